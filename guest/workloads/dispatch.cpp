// workload_main for the built-in image: runs the workload named by the start-info `image` field.
// An image path also works when its file name (without extension) is a workload name, so a copy
// of builtin-guest.bin saved as \guests\spin.bin on the ESP runs `spin`.
#include "workloads/workloads.hpp"
#include "workloads/hostile.hpp"

namespace {

struct Workload {
    const char* name;
    void (*run)(const guest::StartInfo&);
};

constexpr Workload builtins[] = {
    {"spin", workloads::spin},           {"idle", workloads::idle},
    {"exitstorm", workloads::exitstorm}, {"crash", workloads::crash},
    {"powerdown", workloads::powerdown}, {"bursty", workloads::bursty},
    {"capacity", workloads::capacity},   {"vmexit", workloads::vmexit},
    {"escape", workloads::hostile_memory},        {"vmxprobe", workloads::hostile_vmx},
    {"privprobe", workloads::hostile_msr},        {"portsweep", workloads::hostile_io},
    {"clihlt", workloads::hostile_halt},          {"faultloop", workloads::hostile_fault},
    {"leakprobe", workloads::hostile_regs},       {"storm", workloads::hostile_storm},
    {"tfhlt", workloads::hostile_step_halt},
};

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Compares [begin, end) with the NUL-terminated `name`.
bool same(const char* begin, const char* end, const char* name, bool ignore_case) {
    for (; begin != end; ++begin, ++name) {
        if (*name == '\0') return false;
        if (ignore_case ? lower(*begin) != lower(*name) : *begin != *name) return false;
    }
    return *name == '\0';
}

const Workload* find(const char* image, std::size_t length) {
    const char* end = image + length;
    for (const Workload& w : builtins)
        if (same(image, end, w.name, false)) return &w;
    // A path: the file name without its extension, case-insensitive (FAT names are).
    const char* base = image;
    for (const char* p = image; p != end; ++p)
        if (*p == '/' || *p == '\\' || *p == ':') base = p + 1;
    const char* stem_end = end;
    for (const char* p = base; p != end; ++p)
        if (*p == '.') stem_end = p;
    for (const Workload& w : builtins)
        if (same(base, stem_end, w.name, true)) return &w;
    return nullptr;
}

} // namespace

void workload_main(const guest::StartInfo* info) {
    std::size_t length = 0;
    while (length < sizeof info->image && info->image[length] != '\0')
        ++length;
    if (const Workload* w = find(info->image, length)) {
        w->run(*info);
        return;
    }
    guest::print("unknown workload \"");
    guest::console_write(info->image, length);
    guest::print("\"; built-in:");
    for (const Workload& w : builtins) {
        guest::print_char(' ');
        guest::print(w.name);
    }
    guest::print_char('\n');
    guest::powerdown(guest::exit_unknown_workload);
}
