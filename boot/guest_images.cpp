#include "boot/guest_images.hpp"

#include "boot/boot_file.hpp"
#include "boot/console.hpp"
#include "boot/efi.hpp"
#include "vmx/guest/elf_image.hpp"
#include "vmx/lib/text.hpp"

namespace boot {
namespace {

// An image file may be up to 16 MiB (symbols included): it is read into one scratch buffer of
// that size, then kept in pages of its own size.
constexpr std::size_t max_file_size = 16u << 20;

struct Pages {
    EFI_PHYSICAL_ADDRESS address = 0;
    UINTN count = 0;
};

Pages g_scratch;
Pages g_files[vmx::max_guests];
std::size_t g_sizes[vmx::max_guests];
vmx::ElfImage g_image;  // large: static, not on the firmware's stack

UINTN pages_for(std::size_t bytes) { return (bytes + 4095) / 4096; }

bool allocate(Pages& p, std::size_t bytes) {
    p.count = pages_for(bytes == 0 ? 1 : bytes);
    EFI_BOOT_SERVICES* bs = firmware.system_table->BootServices;
    if (failed(efi_call(bs->AllocatePages, AllocateAnyPages, EfiLoaderData, p.count, &p.address))) {
        p = Pages{};
        return false;
    }
    return true;
}

void release(Pages& p) {
    if (p.count != 0) efi_call(firmware.system_table->BootServices->FreePages, p.address, p.count);
    p = Pages{};
}

// The configuration's path is printable ASCII (vmx/config/config.hpp): widening it is exact.
void to_utf16(const char* path, CHAR16* out, std::size_t capacity) {
    std::size_t i = 0;
    for (; path[i] != '\0' && i + 1 < capacity; ++i) out[i] = static_cast<CHAR16>(path[i]);
    out[i] = 0;
}

// The start of the one error line: which guest, which file.
vmx::Text& refuse(const vmx::GuestConfig& g, vmx::Text& error) {
    return error.str("guest ").str(g.name).str(": image ").str(g.image).str(": ");
}

bool load_one(const vmx::GuestConfig& g, std::size_t index, vmx::Text& error) {
    CHAR16 path[vmx::max_image_length + 1];
    to_utf16(g.image, path, sizeof path / sizeof path[0]);
    auto* scratch = reinterpret_cast<char*>(g_scratch.address);
    std::size_t size = 0;
    const BootFile status = read_boot_file(path, scratch, max_file_size, &size);
    if (status == BootFile::too_large) {
        refuse(g, error).str("larger than ").dec(max_file_size).str(" bytes");
        return false;
    }
    if (status != BootFile::ok) {
        refuse(g, error).str(boot_file_problem(status));
        return false;
    }
    const std::uint64_t memory_size = static_cast<std::uint64_t>(g.memory_mib) << 20;
    vmx::parse_elf_image(reinterpret_cast<const std::uint8_t*>(scratch), size, memory_size, g_image);
    if (!g_image.ok) {
        refuse(g, error).str(g_image.error);
        return false;
    }
    if (!allocate(g_files[index], size)) {
        refuse(g, error).str("out of memory keeping its ").dec(size).str(" bytes");
        return false;
    }
    auto* kept = reinterpret_cast<char*>(g_files[index].address);
    for (std::size_t b = 0; b < size; ++b) kept[b] = scratch[b];
    g_sizes[index] = size;
    vmx::FixedText<240> line;
    line.str("Guest image ").str(g.image).str(" for guest ").str(g.name).str(": ").dec(size).str(" bytes, ");
    line.dec(g_image.segment_count).str(" loadable segments, entry ").hex(g_image.entry);
    print_line(line);
    return true;
}

} // namespace

bool load_guest_images(const vmx::Config& config, char* error, std::size_t error_capacity) {
    vmx::Text text(error, error_capacity);
    bool any = false;
    auto has_file = [&](unsigned i) { return !config.guests[i].image_is_builtin && !config.guests[i].runs_kernel(); };
    for (unsigned i = 0; i < config.guest_count; ++i) any = any || has_file(i);
    if (!any) return true;
    if (!allocate(g_scratch, max_file_size)) {
        text.str("out of memory: no room to read guest image files");
        return false;
    }
    bool ok = true;
    for (unsigned i = 0; i < config.guest_count && ok; ++i) {
        if (has_file(i)) ok = load_one(config.guests[i], i, text);
    }
    release(g_scratch);
    if (!ok) release_guest_images();
    return ok;
}

const std::uint8_t* guest_image_file(std::size_t index, std::size_t* size) {
    if (index >= vmx::max_guests || g_files[index].count == 0) {
        *size = 0;
        return nullptr;
    }
    *size = g_sizes[index];
    return reinterpret_cast<const std::uint8_t*>(g_files[index].address);
}

void release_guest_images() {
    for (std::size_t i = 0; i < vmx::max_guests; ++i) {
        release(g_files[i]);
        g_sizes[i] = 0;
    }
}

} // namespace boot
