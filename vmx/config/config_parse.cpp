// The configuration file: lines, comments, [guest NAME] sections and `key = value` settings.
// One forward pass over bounded spans; the first mistake ends it with one error.
#include "vmx/config/config_syntax.hpp"

namespace vmx {
namespace {

using namespace config_syntax;

bool valid_name(Span s) {
    for (std::size_t i = 0; i < s.n; ++i) {
        const char c = s.p[i];
        const bool ok =
            is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

bool parse_section(Config& cfg, Span s, unsigned line, GuestConfig*& current, ConfigResult& r) {
    const std::size_t close = find(s, ']');
    if (close == s.n) {
        fail(r, ConfigSource::file, line, no_key())
            .str("missing ']' at the end of the section header");
        return false;
    }
    if (trim(Span{s.p + close + 1, s.n - close - 1}).n != 0) {
        fail(r, ConfigSource::file, line, no_key()).str("unexpected text after ']'");
        return false;
    }
    const Span inner = trim(Span{s.p + 1, close - 1});
    if (!starts_with(inner, "guest") || (inner.n > 5 && !is_blank(inner.p[5]))) {
        Text msg = fail(r, ConfigSource::file, line, no_key());
        msg.str("unknown section ");
        quoted(msg, Span{s.p, close + 1});
        msg.str(": the only section is [guest NAME]");
        return false;
    }
    const Span name = trim(Span{inner.p + 5, inner.n - 5});
    if (name.n == 0) {
        fail(r, ConfigSource::file, line, no_key()).str("[guest] needs a name: [guest NAME]");
        return false;
    }
    if (name.n > max_name_length || !valid_name(name)) {
        Text msg = fail(r, ConfigSource::file, line, no_key());
        msg.str("guest name ");
        quoted(msg, name);
        if (name.n > max_name_length) {
            msg.str(" is too long (at most ").dec(max_name_length).str(" characters)");
        } else {
            msg.str(" may only contain letters, digits, '_' and '-'");
        }
        return false;
    }
    if (const GuestConfig* first = find_guest_span(cfg, name)) {
        Text msg = fail(r, ConfigSource::file, line, no_key());
        msg.str("[guest ").str(first->name).str("] is defined twice (first on line ");
        msg.dec(first->section.line).chr(')');
        return false;
    }
    if (cfg.guest_count >= max_guests) {
        fail(r, ConfigSource::file, line, no_key())
            .str("too many guests (at most ")
            .dec(max_guests)
            .chr(')');
        return false;
    }
    current = &cfg.guests[cfg.guest_count++];
    for (std::size_t i = 0; i < name.n; ++i)
        current->name[i] = name.p[i];
    current->name[name.n] = '\0';
    current->section = ValueOrigin{ConfigSource::file, line};
    return true;
}

bool parse_setting(Config& cfg, Span s, unsigned line, GuestConfig* current, ConfigResult& r) {
    const std::size_t eq = find(s, '=');
    if (eq == s.n) {
        Text msg = fail(r, ConfigSource::file, line, no_key());
        quoted(msg, s);
        msg.str(" is not 'key = value' (missing '=')");
        return false;
    }
    const Span name = trim(Span{s.p, eq});
    const Span value = trim(Span{s.p + eq + 1, s.n - eq - 1});
    if (name.n == 0) {
        fail(r, ConfigSource::file, line, no_key()).str("missing key before '='");
        return false;
    }
    const std::uint8_t scope = current != nullptr ? in_guest : in_global;
    const KeyInfo* k = find_key(name);
    if (k == nullptr) {
        Text msg = fail(r, ConfigSource::file, line, name);
        unknown_key(msg, name, scope);
        return false;
    }
    if ((k->scope & scope) == 0) {
        Text msg = fail(r, ConfigSource::file, line, name);
        msg.str("key '").str(config_key_name(k->key));
        msg.str(scope == in_guest ? "' is global, move it above the first [guest] section"
                                  : "' belongs in a [guest NAME] section");
        return false;
    }
    if (value.n == 0) {
        fail(r, ConfigSource::file, line, name)
            .str("key '")
            .str(config_key_name(k->key))
            .str("': empty value");
        return false;
    }
    const ValueOrigin& before =
        (current != nullptr ? current->origin : cfg.origin)[key_index(k->key)];
    if (before.source != ConfigSource::none) {
        Text msg = fail(r, ConfigSource::file, line, name);
        msg.str("key '").str(config_key_name(k->key)).str("' is set twice (first on line ");
        msg.dec(before.line).chr(')');
        return false;
    }
    return assign(Target{cfg, current}, *k, value, ValueOrigin{ConfigSource::file, line}, r);
}

// Checks the raw bytes of one line (without its LF) and returns its content: no CR, no comment,
// trimmed.
bool clean_line(Span raw, unsigned line, Span& content, ConfigResult& r) {
    if (raw.n > 0 && raw.p[raw.n - 1] == '\r') --raw.n;
    if (raw.n > max_line_length) {
        Text msg = fail(r, ConfigSource::file, line, no_key());
        msg.str("line is too long (")
            .dec(raw.n)
            .str(" bytes, at most ")
            .dec(max_line_length)
            .chr(')');
        return false;
    }
    for (std::size_t i = 0; i < raw.n; ++i) {
        const auto c = static_cast<unsigned char>(raw.p[i]);
        if ((c >= 0x20 && c != 0x7f) || c == '\t') continue;
        Text msg = fail(r, ConfigSource::file, line, no_key());
        if (c == '\r') {
            msg.str("stray carriage return (lines end in LF or CRLF)");
        } else {
            msg.str("control character ").hex(c, 2).str(" in column ").dec(i + 1);
            msg.str(" (only tab is allowed)");
        }
        return false;
    }
    content = trim(Span{raw.p, find(raw, '#')});
    return true;
}

} // namespace

ConfigResult parse_config(const char* text, std::size_t len, Config& out) {
    reset_config(out);
    ConfigResult r;
    if (text == nullptr) len = 0;
    std::size_t pos = 0;
    if (len >= 3 && static_cast<unsigned char>(text[0]) == 0xef &&
        static_cast<unsigned char>(text[1]) == 0xbb &&
        static_cast<unsigned char>(text[2]) == 0xbf) {
        pos = 3; // a UTF-8 byte-order mark
    }
    unsigned line = 0;
    GuestConfig* current = nullptr;
    while (pos < len) {
        if (line < UINT32_MAX) ++line;
        const std::size_t start = pos;
        while (pos < len && text[pos] != '\n')
            ++pos;
        const Span raw{text + start, pos - start};
        if (pos < len) ++pos; // the LF
        Span s{};
        if (!clean_line(raw, line, s, r)) return r;
        if (s.n == 0) continue;
        const bool ok = s.p[0] == '[' ? parse_section(out, s, line, current, r)
                                      : parse_setting(out, s, line, current, r);
        if (!ok) return r;
    }
    return r;
}

} // namespace vmx
