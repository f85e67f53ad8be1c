// workload_main for the built-in image: runs the workload named by the start-info `image` field.
// An image path also works when its file name (without extension) is a workload name, so a copy
// of builtin-guest.bin saved as \guests\spin.bin on the ESP runs `spin`.
#include "workloads/workloads.hpp"
#include "workloads/hostile.hpp"

namespace {

// In the order of metronome::abi::builtin_workloads, which holds the names.
constexpr void (*workload_functions[])(const guest::StartInfo&) = {
    workloads::spin,           workloads::idle,        workloads::bursty,     workloads::exitstorm,
    workloads::crash,          workloads::powerdown,   workloads::capacity,   workloads::vmexit,
    workloads::hostile_memory, workloads::hostile_vmx, workloads::hostile_msr, workloads::hostile_io,
    workloads::hostile_halt,   workloads::hostile_fault, workloads::hostile_regs,
    workloads::hostile_storm,  workloads::hostile_step_halt,
};
static_assert(sizeof workload_functions / sizeof workload_functions[0] == metronome::abi::builtin_workload_count,
              "one function per built-in workload name");

using metronome::abi::builtin_workload_count;
using metronome::abi::builtin_workloads;

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

// The index of the workload `image` names, or builtin_workload_count.
std::size_t find(const char* image, std::size_t length) {
    const char* end = image + length;
    for (std::size_t i = 0; i < builtin_workload_count; ++i)
        if (same(image, end, builtin_workloads[i], false)) return i;
    // A path: the file name without its extension, case-insensitive (FAT names are).
    const char* base = image;
    for (const char* p = image; p != end; ++p)
        if (*p == '/' || *p == '\\' || *p == ':') base = p + 1;
    const char* stem_end = end;
    for (const char* p = base; p != end; ++p)
        if (*p == '.') stem_end = p;
    for (std::size_t i = 0; i < builtin_workload_count; ++i)
        if (same(base, stem_end, builtin_workloads[i], true)) return i;
    return builtin_workload_count;
}

} // namespace

void workload_main(const guest::StartInfo* info) {
    std::size_t length = 0;
    while (length < sizeof info->image && info->image[length] != '\0')
        ++length;
    const std::size_t w = find(info->image, length);
    if (w < builtin_workload_count) {
        workload_functions[w](*info);
        return;
    }
    guest::print("unknown workload \"");
    guest::console_write(info->image, length);
    guest::print("\"; built-in:");
    for (const char* name : builtin_workloads) {
        guest::print_char(' ');
        guest::print(name);
    }
    guest::print_char('\n');
    guest::powerdown(guest::exit_unknown_workload);
}
