// Reading one value for one key: numbers, booleans, enum words, images, paths, command lines
// and guest names, each checked against its kind and range before it is stored.
#include "vmx/config/config_syntax.hpp"

namespace vmx::config_syntax {
namespace {

// s equals `lit` ignoring ASCII case.
bool same_word(Span s, const char* lit) {
    std::size_t i = 0;
    for (; i < s.n; ++i) {
        if (lit[i] == '\0' || lower(lit[i]) != lower(s.p[i])) return false;
    }
    return lit[i] == '\0';
}

enum class Number : std::uint8_t { ok, invalid, overflow };

Number parse_number(Span s, std::uint64_t& out) {
    out = 0;
    if (s.n == 0 || !is_digit(s.p[0])) return Number::invalid;
    bool overflow = false;
    for (std::size_t i = 0; i < s.n; ++i) {
        const char c = s.p[i];
        if (c == '_') {
            if (i + 1 >= s.n || !is_digit(s.p[i + 1]) || !is_digit(s.p[i - 1])) {
                return Number::invalid;
            }
            continue;
        }
        if (!is_digit(c)) return Number::invalid;
        const auto d = static_cast<std::uint64_t>(c - '0');
        if (out > (UINT64_MAX - d) / 10) overflow = true; // keep scanning: "9999x" is invalid
        out = out * 10 + d;
    }
    return overflow ? Number::overflow : Number::ok;
}

template <class T> bool read_number(const KeyInfo& k, Span v, T& out, Text& msg) {
    const bool zero_ok = k.kind == ConfigKind::uint64_or_0;
    std::uint64_t n = 0;
    const Number parsed = parse_number(v, n);
    if (parsed == Number::invalid) {
        quoted(msg, v);
        msg.str(" is not a whole number");
        if (v.p[0] == '-' || v.p[0] == '+') msg.str(" (no sign allowed)");
        if (v.n > 1 && v.p[0] == '0' && lower(v.p[1]) == 'x') msg.str(" (decimal digits only)");
        return false;
    }
    if (parsed == Number::overflow || ((n < k.min || n > k.max) && !(zero_ok && n == 0))) {
        quoted(msg, v);
        msg.str(" is out of range ");
        if (zero_ok) msg.str("(0 or ");
        msg.dec(k.min).str("..").dec(k.max);
        if (zero_ok) msg.chr(')');
        return false;
    }
    out = static_cast<T>(n); // every key's range fits its field
    return true;
}

template <class E> bool read_enum(Span v, E& out, Text& msg) {
    for (unsigned i = 0; i < EnumWords<E>::count; ++i) {
        if (same_word(v, EnumWords<E>::word(static_cast<E>(i)))) {
            out = static_cast<E>(i);
            return true;
        }
    }
    quoted(msg, v);
    msg.str(" is not one of ");
    for (unsigned i = 0; i < EnumWords<E>::count; ++i)
        msg.str(i > 0 ? ", " : "").str(EnumWords<E>::word(static_cast<E>(i)));
    return false;
}

bool read_boolean(Span v, bool& out, Text& msg) {
    static constexpr const char* words[] = {"0", "1", "false", "true", "no", "yes", "off", "on"};
    for (unsigned i = 0; i < 8; ++i) {
        if (same_word(v, words[i])) {
            out = (i % 2) == 1;
            return true;
        }
    }
    quoted(msg, v);
    msg.str(" is not one of ");
    for (unsigned i = 0; i < 8; ++i)
        msg.str(i > 0 ? ", " : "").str(words[i]);
    return false;
}

template <std::size_t N> void store_text(char (&out)[N], Span v) {
    std::size_t i = 0;
    for (; i < v.n && i + 1 < N; ++i)
        out[i] = v.p[i];
    out[i] = '\0';
}

// A path on the ESP that starts with '\' (the caller checked), naming a file.
bool check_path(Span v, Text& msg) {
    if (v.n > max_path_length) {
        msg.str("path is too long (").dec(v.n).str(" characters, at most ");
        msg.dec(max_path_length).chr(')');
        return false;
    }
    for (std::size_t i = 0; i < v.n; ++i) {
        const auto c = static_cast<unsigned char>(v.p[i]);
        if (c < 0x20 || c > 0x7e) {
            quoted(msg, v);
            msg.str(" is not a printable ASCII path");
            return false;
        }
    }
    if (v.n < 2 || v.p[v.n - 1] == '\\') {
        quoted(msg, v);
        msg.str(" names a folder, not a file");
        return false;
    }
    return true;
}

void not_a_path(Span v, Text& msg) {
    quoted(msg, v);
    msg.str(" is not a path on the ESP: paths start with '\\' and use '\\' between folders (e.g. "
            "\\guests\\a.elf)");
}

bool read_value(KindTag<ConfigKind::uint32>, const KeyInfo& k, Span v, std::uint32_t& out, Target,
                Text& msg) {
    return read_number(k, v, out, msg);
}
bool read_value(KindTag<ConfigKind::uint64>, const KeyInfo& k, Span v, std::uint64_t& out, Target,
                Text& msg) {
    return read_number(k, v, out, msg);
}
bool read_value(KindTag<ConfigKind::uint64_or_0>, const KeyInfo& k, Span v, std::uint64_t& out,
                Target, Text& msg) {
    return read_number(k, v, out, msg);
}
bool read_value(KindTag<ConfigKind::boolean>, const KeyInfo&, Span v, bool& out, Target,
                Text& msg) {
    return read_boolean(v, out, msg);
}
// The enum kinds (policy, on_guest_exit, on_finish, debug_break, tsc_mode).
template <ConfigKind K>
bool read_value(KindTag<K>, const KeyInfo&, Span v, config_value_t<K>& out, Target, Text& msg) {
    return read_enum(v, out, msg);
}

bool read_value(KindTag<ConfigKind::image>, const KeyInfo&, Span v,
                config_value_t<ConfigKind::image>& out, Target t, Text& msg) {
    for (const char* w : builtin_workloads) {
        if (same(v, w)) {
            store_text(out, text_of(w));
            t.guest->image_is_builtin = true;
            return true;
        }
    }
    if (v.p[0] != '\\') {
        if (v.p[0] == '/') {
            not_a_path(v, msg);
            return false;
        }
        quoted(msg, v);
        msg.str(" is not a built-in workload (");
        for (unsigned i = 0; i < builtin_workload_count; ++i) {
            msg.str(i > 0 ? ", " : "").str(builtin_workloads[i]);
        }
        msg.str(") or a path starting with '\\'");
        return false;
    }
    if (!check_path(v, msg)) return false;
    store_text(out, v);
    t.guest->image_is_builtin = false;
    return true;
}

bool read_value(KindTag<ConfigKind::path>, const KeyInfo&, Span v,
                config_value_t<ConfigKind::path>& out, Target, Text& msg) {
    if (v.p[0] != '\\') {
        not_a_path(v, msg);
        return false;
    }
    if (!check_path(v, msg)) return false;
    store_text(out, v);
    return true;
}

// Byte for byte into the Config's pool; a guest's second value reuses the first's bytes when it
// fits there (a load option replacing the file's), else takes new ones.
bool read_value(KindTag<ConfigKind::cmdline>, const KeyInfo&, Span v, ConfigText& out, Target t,
                Text& msg) {
    if (v.n > max_cmdline_length) {
        msg.str("command line is too long (").dec(v.n).str(" bytes, at most ");
        msg.dec(max_cmdline_length).chr(')');
        return false;
    }
    for (std::size_t i = 0; i < v.n; ++i) {
        const auto c = static_cast<unsigned char>(v.p[i]);
        if (c < 0x20 || c > 0x7e) {
            msg.str("byte ").dec(i + 1).str(" of the command line is ").hex(c, 2);
            msg.str(": a command line is printable ASCII (no tabs)");
            return false;
        }
    }
    Config& cfg = t.cfg;
    std::size_t at = out.offset;
    if (out.length == 0 || out.length < v.n) {
        if (cfg.cmdline_pool_used + v.n + 1 > cmdline_pool_size) {
            msg.str("the command lines of all guests take more than ").dec(cmdline_pool_size);
            msg.str(" bytes");
            return false;
        }
        at = cfg.cmdline_pool_used;
        cfg.cmdline_pool_used += v.n + 1;
    }
    for (std::size_t i = 0; i < v.n; ++i)
        cfg.cmdline_pool[at + i] = v.p[i];
    cfg.cmdline_pool[at + v.n] = '\0';
    out = ConfigText{static_cast<std::uint16_t>(at), static_cast<std::uint16_t>(v.n)};
    return true;
}

// A guest name as [guest NAME] allows it; whether such a guest exists is finalize_config's check.
bool read_value(KindTag<ConfigKind::guest_name>, const KeyInfo&, Span v,
                config_value_t<ConfigKind::guest_name>& out, Target, Text& msg) {
    bool valid = v.n <= max_name_length;
    for (std::size_t i = 0; i < v.n && valid; ++i) {
        const char c = v.p[i];
        valid = is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'z') || c == '_' || c == '-';
    }
    if (!valid) {
        quoted(msg, v);
        msg.str(" is not a guest name (1..").dec(max_name_length).str(" of A-Z a-z 0-9 _ -)");
        return false;
    }
    store_text(out, v);
    return true;
}

} // namespace

bool assign(Target t, const KeyInfo& k, Span v, ValueOrigin where, ConfigResult& r) {
    Text msg = fail(r, where.source, where.line, text_of(k.name));
    msg.str("key '").str(k.name).str("': ");
    const bool ok = visit_field(t.cfg, t.guest, k.key, [&](auto kind, auto& field) {
        return read_value(kind, k, v, field, t, msg);
    });
    if (!ok) return false;
    r = ConfigResult{};
    (t.guest != nullptr ? t.guest->origin : t.cfg.origin)[key_index(k.key)] = where;
    return true;
}

GuestConfig* find_guest_span(Config& cfg, Span name) {
    for (unsigned i = 0; i < cfg.guest_count && i < max_guests; ++i) {
        if (same(name, cfg.guests[i].name)) return &cfg.guests[i];
    }
    return nullptr;
}

} // namespace vmx::config_syntax
