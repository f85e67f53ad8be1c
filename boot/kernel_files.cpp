#include "boot/kernel_files.hpp"

#include "boot/boot_file.hpp"
#include "boot/console.hpp"
#include "boot/efi.hpp"
#include "vmx/guest/elf_image.hpp"
#include "vmx/guest/linux_boot.hpp"
#include "vmx/lib/text.hpp"

namespace boot {
namespace {

// One file read from the ESP, kept in UEFI pages of its own size.
struct Loaded {
    const char* path = nullptr; // the configuration's spelling (it outlives the run)
    EFI_PHYSICAL_ADDRESS address = 0;
    UINTN pages = 0;
    std::size_t size = 0;
};

// Distinct files: each guest has at most two, most guests share them.
Loaded g_loaded[2 * vmx::max_guests];
std::size_t g_loaded_count = 0;
std::size_t g_kernel[vmx::max_guests];  // index into g_loaded + 1; 0: none
std::size_t g_initrd[vmx::max_guests];
vmx::ElfImage g_elf;
vmx::LinuxBootPlan g_plan;

bool same(const char* a, const char* b) {
    while (*a != '\0' && *a == *b) ++a, ++b;
    return *a == *b;
}

void to_utf16(const char* path, CHAR16* out, std::size_t capacity) {
    std::size_t i = 0;
    for (; path[i] != '\0' && i + 1 < capacity; ++i) out[i] = static_cast<CHAR16>(path[i]);
    out[i] = 0;
}

vmx::Text& refuse(const vmx::GuestConfig& g, const char* key, const char* path, vmx::Text& error) {
    return error.str("guest ").str(g.name).str(": ").str(key).chr(' ').str(path).str(": ");
}

// The file at `path`, read once: its slot + 1, or 0 with the error written.
std::size_t load(const vmx::GuestConfig& g, const char* key, const char* path, vmx::Text& error) {
    for (std::size_t i = 0; i < g_loaded_count; ++i) {
        if (same(g_loaded[i].path, path)) return i + 1;
    }
    CHAR16 name[vmx::max_image_length + 1];
    to_utf16(path, name, sizeof name / sizeof name[0]);
    std::size_t size = 0;
    BootFile status = read_boot_file(name, nullptr, 0, &size); // the size (too_large) or a problem
    if (status == BootFile::ok) size = 0;                        // an empty file
    if (status != BootFile::ok && status != BootFile::too_large) {
        refuse(g, key, path, error).str(boot_file_problem(status));
        return 0;
    }
    Loaded& l = g_loaded[g_loaded_count];
    l.pages = (size + 4095) / 4096 + 1;
    EFI_BOOT_SERVICES* bs = firmware.system_table->BootServices;
    if (failed(efi_call(bs->AllocatePages, AllocateAnyPages, EfiLoaderData, l.pages, &l.address))) {
        refuse(g, key, path, error).str("out of memory reading its ").dec(size).str(" bytes");
        l = Loaded{};
        return 0;
    }
    status = read_boot_file(name, reinterpret_cast<char*>(l.address), size, &l.size);
    if (status != BootFile::ok) {
        refuse(g, key, path, error).str(boot_file_problem(status));
        efi_call(bs->FreePages, l.address, l.pages);
        l = Loaded{};
        return 0;
    }
    l.path = path;
    vmx::FixedText<200> line;
    line.str("Read ").str(path).str(": ").dec(l.size).str(" bytes");
    print_line(line);
    return ++g_loaded_count;
}

const std::uint8_t* bytes(std::size_t slot) {
    return slot == 0 ? nullptr : reinterpret_cast<const std::uint8_t*>(g_loaded[slot - 1].address);
}
std::size_t size_of(std::size_t slot) { return slot == 0 ? 0 : g_loaded[slot - 1].size; }

// The kernel, its initrd and command line checked for this guest's memory, as the session will
// place them.
bool check(const vmx::Config& config, const vmx::GuestConfig& g, std::size_t i, vmx::Text& error) {
    const std::uint64_t memory = static_cast<std::uint64_t>(g.memory_mib) << 20;
    vmx::parse_elf_kernel(bytes(g_kernel[i]), size_of(g_kernel[i]), memory, vmx::linux_layout::kernel_lowest, g_elf);
    if (!g_elf.ok) {
        refuse(g, "kernel", g.kernel, error).str(g_elf.error);
        return false;
    }
    const char* cmdline = vmx::config_text(config, g.cmdline);
    std::size_t length = 0;
    while (cmdline[length] != '\0') ++length;
    vmx::plan_linux_boot(g_elf, memory, size_of(g_initrd[i]), length, g_plan);
    if (!g_plan.ok) {
        error.str("guest ").str(g.name).str(": ").str(g_plan.error);
        return false;
    }
    return true;
}

} // namespace

bool load_kernel_files(const vmx::Config& config, char* error, std::size_t error_capacity) {
    vmx::Text text(error, error_capacity);
    for (unsigned i = 0; i < config.guest_count; ++i) {
        const vmx::GuestConfig& g = config.guests[i];
        g_kernel[i] = g_initrd[i] = 0;
        if (!g.runs_kernel()) continue;
        g_kernel[i] = load(g, "kernel", g.kernel, text);
        if (g_kernel[i] == 0) break;
        if (g.initrd[0] != '\0') {
            g_initrd[i] = load(g, "initrd", g.initrd, text);
            if (g_initrd[i] == 0) break;
        }
        if (!check(config, g, i, text)) break;
    }
    if (text.size() == 0) return true;
    release_kernel_files();
    return false;
}

KernelFiles kernel_files(std::size_t index) {
    KernelFiles f;
    if (index >= vmx::max_guests) return f;
    f.kernel = bytes(g_kernel[index]);
    f.kernel_size = size_of(g_kernel[index]);
    f.initrd = bytes(g_initrd[index]);
    f.initrd_size = size_of(g_initrd[index]);
    return f;
}

void release_kernel_files() {
    EFI_BOOT_SERVICES* bs = firmware.system_table->BootServices;
    for (std::size_t i = 0; i < g_loaded_count; ++i) efi_call(bs->FreePages, g_loaded[i].address, g_loaded[i].pages);
    g_loaded_count = 0;
    for (std::size_t i = 0; i < vmx::max_guests; ++i) g_kernel[i] = g_initrd[i] = 0;
}

} // namespace boot
