// libFuzzer target: the configuration parser (vmx/config*.cpp) on arbitrary bytes.
// The input is split at its first 0x00 byte: before it, the file text; after it, the load
// options. Everything the parser produces is then printed, so the printers see fuzzed values too.
// Sanitizers (address, undefined) turn any out-of-bounds read or overflow into a crash; the
// checks below turn a broken promise of vmx/config/config.hpp into one.
#include "vmx/config/config.hpp"
#include "vmx/lib/text.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

vmx::Config g_config;
char g_text[1 << 16];

void require(bool condition) {
    if (!condition) std::abort();
}

// One line with no newline and no control characters: what boot/ prints after METRONOME-ERROR.
void check_error_line(const vmx::ConfigResult& r) {
    vmx::Text out(g_text, sizeof g_text);
    vmx::format_config_error(r, "metronome.cfg", out);
    for (std::size_t i = 0; i < out.size(); ++i) {
        const auto c = static_cast<unsigned char>(g_text[i]);
        require(c >= 0x20 && c < 0x7f);
    }
    require(r.message[0] != '\0');
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const char* text = reinterpret_cast<const char*>(data);
    const void* nul = std::memchr(data, 0, size);
    const std::size_t file_len = nul != nullptr ? static_cast<std::size_t>(static_cast<const std::uint8_t*>(nul) - data) : size;
    const char* options = nul != nullptr ? text + file_len + 1 : nullptr;
    const std::size_t options_len = nul != nullptr ? size - file_len - 1 : 0;

    const vmx::ConfigResult r = vmx::load_config(text, file_len, options, options_len, g_config);
    if (!r.ok) {
        check_error_line(r);
        return 0;
    }
    require(g_config.finalized);
    require(g_config.guest_count >= 1 && g_config.guest_count <= vmx::max_guests);
    for (unsigned i = 0; i < g_config.guest_count; ++i) {
        const vmx::GuestConfig& g = g_config.guests[i];
        require(g.name[0] != '\0');
        require((g.image[0] != '\0') != g.runs_kernel()); // an image or a kernel, never both
        require(g.memory_mib >= 1 && g.memory_mib <= (g.runs_kernel() ? 2048u : vmx::max_image_memory_mib));
        const char* cmdline = vmx::config_text(g_config, g.cmdline);
        require(std::strlen(cmdline) == g.cmdline.length && g.cmdline.length <= vmx::max_cmdline_length);
        require(g.runs_kernel() || (g.cmdline.length == 0 && g.initrd[0] == '\0'));
        require(g.slice_us >= 10 && g.slice_us <= g_config.duration_ms * 1000ull);
        require(g.image_is_builtin == vmx::is_builtin_workload(g.image));
    }
    vmx::Text out(g_text, sizeof g_text);
    vmx::format_config(g_config, out);
    // Finalizing again changes nothing (vmx/config/config.hpp: idempotent).
    require(vmx::finalize_config(g_config).ok);
    char option[64];
    (void)vmx::find_load_option(options != nullptr ? options : "", options_len, "config", option, sizeof option);
    return 0;
}
