#include "boot/run_options.hpp"

#include "boot/boot_file.hpp"

namespace boot {
namespace {

constexpr std::size_t config_capacity = 16 * 1024;
// Static, not on the stack: zero-initialised storage (no constructor) that firmware stacks of a
// few tens of KiB need not hold.
char config_bytes[config_capacity];

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

bool equals(const char* s, std::size_t n, const char* word) {
    std::size_t i = 0;
    for (; i < n; ++i) {
        if (word[i] == '\0' || word[i] != s[i]) return false;
    }
    return word[i] == '\0';
}

// Sets *out from a value word; false for a word that is neither.
bool on_finish_value(const char* s, std::size_t n, vmx::OnFinish* out) {
    if (equals(s, n, "shutdown"))
        *out = vmx::OnFinish::shutdown;
    else if (equals(s, n, "return_to_firmware"))
        *out = vmx::OnFinish::return_to_firmware;
    else
        return false;
    return true;
}

// `key = value` on one line (comments and surrounding blanks already cut off).
bool scan_line(const char* s, std::size_t n, vmx::OnFinish* out) {
    std::size_t eq = 0;
    while (eq < n && s[eq] != '=')
        ++eq;
    if (eq == n) return false;
    std::size_t key_end = eq;
    while (key_end > 0 && is_space(s[key_end - 1]))
        --key_end;
    if (!equals(s, key_end, "on_finish")) return false;
    std::size_t v = eq + 1;
    while (v < n && is_space(s[v]))
        ++v;
    return on_finish_value(s + v, n - v, out);
}

// Global keys only: the scan stops at the first `[section]` header.
bool scan_config(const char* text, std::size_t n, vmx::OnFinish* out) {
    bool found = false;
    std::size_t i = 0;
    while (i < n) {
        std::size_t end = i;
        while (end < n && text[end] != '\n')
            ++end;
        std::size_t b = i;
        std::size_t e = end;
        for (std::size_t k = b; k < e; ++k) {
            if (text[k] == '#') e = k;
        }
        while (b < e && is_space(text[b]))
            ++b;
        while (e > b && is_space(text[e - 1]))
            --e;
        if (b < e && text[b] == '[') break;
        if (b < e && scan_line(text + b, e - b, out)) found = true;
        i = end + 1;
    }
    return found;
}

// Load options are UTF-16 words separated by spaces; the first is the image name when the UEFI
// shell started us. Boot-manager entries may carry binary data here instead: anything that is
// not printable ASCII text makes us ignore the options altogether.
bool scan_load_options(const EFI_LOADED_IMAGE* image, vmx::OnFinish* out) {
    if (image == nullptr || image->LoadOptions == nullptr) return false;
    const std::size_t units = image->LoadOptionsSize / sizeof(CHAR16);
    const auto* options = static_cast<const CHAR16*>(image->LoadOptions);
    char word[64];
    std::size_t used = 0;
    bool found = false;
    for (std::size_t i = 0; i <= units; ++i) {
        const CHAR16 c = i < units ? options[i] : CHAR16{0};
        if (c == 0 || c == u' ' || c == u'\t') {
            if (used > 0 && scan_line(word, used, out)) found = true;
            used = 0;
            if (c == 0) break;
            continue;
        }
        if (c < 0x20 || c > 0x7e) return false;
        if (used < sizeof(word)) word[used++] = static_cast<char>(c);
    }
    return found;
}

} // namespace

RunOptions read_run_options() {
    RunOptions r;
    static constexpr Utf16 config_path{u"\\metronome.cfg"};
    r.config_file_found =
        read_boot_file(config_path.get(), config_bytes, config_capacity, &r.config_file_size);
    if (r.config_file_found && scan_config(config_bytes, r.config_file_size, &r.on_finish))
        r.on_finish_source = "\\metronome.cfg";
    if (scan_load_options(loaded_image(), &r.on_finish)) r.on_finish_source = "load options";
    return r;
}

} // namespace boot
