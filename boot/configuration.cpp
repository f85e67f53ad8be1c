#include "boot/configuration.hpp"

#include "boot/boot_file.hpp"
#include "vmx/lib/text.hpp"

namespace boot {
namespace {

constexpr std::size_t config_capacity = 64 * 1024;
constexpr std::size_t options_capacity = 4096;
// Static: zero-initialised storage, no constructor, nothing on the firmware's small stack.
char config_bytes[config_capacity];
char option_bytes[options_capacity];
constinit vmx::Config config{};

// Load options are UTF-16; boot-manager entries may carry binary data there instead, so anything
// that is not printable ASCII makes us ignore the options altogether.
std::size_t read_load_options() {
    const EFI_LOADED_IMAGE* image = loaded_image();
    if (image == nullptr || image->LoadOptions == nullptr) return 0;
    const std::size_t units = image->LoadOptionsSize / sizeof(CHAR16);
    const auto* options = static_cast<const CHAR16*>(image->LoadOptions);
    std::size_t used = 0;
    for (std::size_t i = 0; i < units && options[i] != 0; ++i) {
        const CHAR16 c = options[i];
        if ((c < 0x20 || c > 0x7e) && c != u'\t') return 0;
        if (used + 1 >= options_capacity) return 0;
        option_bytes[used++] = static_cast<char>(c);
    }
    return used;
}

void fail(LoadedConfiguration& out, const vmx::ConfigResult& r) {
    vmx::Text text(out.error, sizeof out.error);
    vmx::format_config_error(r, "metronome.cfg", text);
    out.ok = false;
}

} // namespace

LoadedConfiguration load_configuration() {
    LoadedConfiguration out;
    out.config = &config;
    static constexpr Utf16 path{u"\\metronome.cfg"};
    const BootFile status = read_boot_file(path.get(), config_bytes, config_capacity, &out.file_size);
    out.file_found = status == BootFile::ok;
    if (status == BootFile::too_large) {
        vmx::Text text(out.error, sizeof out.error);
        text.str("metronome.cfg: larger than ").dec(config_capacity).str(" bytes");
        return out;
    }
    if (status == BootFile::directory || status == BootFile::unreadable) {
        vmx::Text(out.error, sizeof out.error).str("metronome.cfg: ").str(boot_file_problem(status));
        return out;
    }
    vmx::ConfigResult r = vmx::parse_config(config_bytes, out.file_found ? out.file_size : 0, config);
    if (!r.ok) {
        fail(out, r);
        return out;
    }
    const std::size_t options = read_load_options();
    if (options > 0) {
        out.options_used = true;
        r = vmx::apply_load_options(config, option_bytes, options);
        if (!r.ok) {
            fail(out, r);
            return out;
        }
    }
    // No guests: a capability run; the global keys (on_finish) still apply.
    if (config.guest_count > 0) {
        r = vmx::finalize_config(config);
        if (!r.ok) {
            fail(out, r);
            return out;
        }
    }
    out.ok = true;
    return out;
}

} // namespace boot
