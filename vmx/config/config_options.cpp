// Load options: `key=value` words from the UEFI command line that override the file, and the
// lookup of the shell's own words (config=PATH).
#include "vmx/config/config_syntax.hpp"

namespace vmx {
namespace {

using namespace config_syntax;

bool is_separator(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// The next whitespace-separated word at or after `pos`, or false at the end.
bool next_word(Span s, std::size_t& pos, Span& word) {
    while (pos < s.n && is_separator(s.p[pos]))
        ++pos;
    if (pos >= s.n) return false;
    const std::size_t start = pos;
    while (pos < s.n && !is_separator(s.p[pos]))
        ++pos;
    word = Span{s.p + start, pos - start};
    return true;
}

Span options_span(const char* options, std::size_t len) {
    if (options == nullptr) return Span{"", 0};
    std::size_t n = 0;
    while (n < len && options[n] != '\0')
        ++n; // a NUL ends the options
    return Span{options, n};
}

bool apply_guest_option(Config& cfg, Span name, Span value, unsigned word, ConfigResult& r) {
    const Span rest{name.p + 6, name.n - 6}; // after "guest."
    const std::size_t dot = find(rest, '.');
    const Span guest_name{rest.p, dot};
    const Span key = dot < rest.n ? Span{rest.p + dot + 1, rest.n - dot - 1} : no_key();
    if (dot == rest.n || key.n == 0 || guest_name.n == 0) {
        Text msg = fail(r, ConfigSource::load_options, word, name);
        quoted(msg, name);
        msg.str(" is not guest.NAME.key");
        return false;
    }
    GuestConfig* g = find_guest_span(cfg, guest_name);
    if (g == nullptr) {
        Text msg = fail(r, ConfigSource::load_options, word, key);
        msg.str("no guest named ");
        quoted(msg, guest_name);
        msg.str(" in the configuration file");
        return false;
    }
    const KeyInfo* k = find_key(key);
    if (k == nullptr) {
        Text msg = fail(r, ConfigSource::load_options, word, key);
        unknown_key(msg, key, in_guest);
        return false;
    }
    if ((k->scope & in_guest) == 0) {
        Text msg = fail(r, ConfigSource::load_options, word, key);
        msg.str("key '").str(config_key_name(k->key)).str("' is global: write ");
        msg.str(config_key_name(k->key))
            .str("=VALUE, not guest.NAME.")
            .str(config_key_name(k->key));
        return false;
    }
    if (value.n == 0) {
        fail(r, ConfigSource::load_options, word, key)
            .str("key '")
            .str(config_key_name(k->key))
            .str("': empty value");
        return false;
    }
    return assign(Target{cfg, g}, *k, value, ValueOrigin{ConfigSource::load_options, word}, r);
}

bool apply_option(Config& cfg, Span w, unsigned word, ConfigResult& r) {
    const std::size_t eq = find(w, '=');
    if (eq == w.n) {
        if (word == 1) return true; // the program name, as the UEFI shell passes it
        Text msg = fail(r, ConfigSource::load_options, word, no_key());
        quoted(msg, w);
        msg.str(" is not key=value");
        return false;
    }
    const Span name{w.p, eq};
    const Span value{w.p + eq + 1, w.n - eq - 1};
    if (same(name, "config")) return true; // the shell's: the configuration file's path
    if (name.n == 0) {
        fail(r, ConfigSource::load_options, word, no_key()).str("missing key before '='");
        return false;
    }
    if (starts_with(name, "guest.")) return apply_guest_option(cfg, name, value, word, r);
    const KeyInfo* k = find_key(name);
    if (k == nullptr) {
        Text msg = fail(r, ConfigSource::load_options, word, name);
        unknown_key(msg, name, in_global);
        return false;
    }
    if ((k->scope & in_global) == 0) {
        Text msg = fail(r, ConfigSource::load_options, word, name);
        msg.str("key '").str(config_key_name(k->key)).str("' is a guest key: write guest.NAME.");
        msg.str(config_key_name(k->key)).str("=VALUE");
        return false;
    }
    if (value.n == 0) {
        fail(r, ConfigSource::load_options, word, name)
            .str("key '")
            .str(config_key_name(k->key))
            .str("': empty value");
        return false;
    }
    return assign(Target{cfg, nullptr}, *k, value, ValueOrigin{ConfigSource::load_options, word},
                  r);
}

} // namespace

ConfigResult apply_load_options(Config& cfg, const char* options, std::size_t len) {
    cfg.finalized = false;
    ConfigResult r;
    const Span all = options_span(options, len);
    std::size_t pos = 0;
    unsigned word = 0;
    Span w{};
    while (next_word(all, pos, w)) {
        if (word < UINT32_MAX) ++word;
        if (!apply_option(cfg, w, word, r)) return r;
    }
    return r;
}

OptionLookup find_load_option(const char* options, std::size_t len, const char* key, char* out,
                              std::size_t cap) {
    if (out != nullptr && cap > 0) out[0] = '\0';
    if (key == nullptr) return OptionLookup::absent;
    const Span all = options_span(options, len);
    std::size_t pos = 0;
    Span w{};
    bool found = false;
    Span value{};
    while (next_word(all, pos, w)) {
        const std::size_t eq = find(w, '=');
        if (eq < w.n && same(Span{w.p, eq}, key)) {
            found = true;
            value = Span{w.p + eq + 1, w.n - eq - 1};
        }
    }
    if (!found) return OptionLookup::absent;
    if (out == nullptr || value.n + 1 > cap) return OptionLookup::too_long;
    for (std::size_t i = 0; i < value.n; ++i)
        out[i] = value.p[i];
    out[value.n] = '\0';
    return OptionLookup::found;
}

} // namespace vmx
