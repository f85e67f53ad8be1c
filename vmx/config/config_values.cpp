// The configuration keys and their values: the key table, near-miss suggestions, error messages
// that quote user text safely, and the parsing of numbers, booleans, enum words and images.
#include "vmx/config/config_syntax.hpp"

namespace vmx::config_syntax {
namespace {

constexpr KeyInfo key_table[] = {
    {ConfigKey::duration_ms, in_global, Kind::number, 1, 3'600'000, false},
    {ConfigKey::slice_us, in_global | in_guest, Kind::number, 10, 1'000'000, false},
    {ConfigKey::policy, in_global, Kind::policy, 0, 0, false},
    {ConfigKey::yield_on_hlt, in_global | in_guest, Kind::boolean, 0, 0, false},
    {ConfigKey::on_guest_exit, in_global, Kind::on_guest_exit, 0, 0, false},
    {ConfigKey::on_finish, in_global, Kind::on_finish, 0, 0, false},
    {ConfigKey::tick_hz, in_global | in_guest, Kind::number, 0, 10'000, false},
    {ConfigKey::memory_mib, in_global | in_guest, Kind::number, 1, 256, false},
    {ConfigKey::period_us, in_global | in_guest, Kind::number, 10, 10'000'000, false},
    {ConfigKey::tsc_hz, in_global, Kind::number, 1'000'000, 100'000'000'000, true},
    {ConfigKey::image, in_guest, Kind::image, 0, 0, false},
    {ConfigKey::cap_percent, in_global | in_guest, Kind::number, 1, 100, false},
    {ConfigKey::param, in_guest, Kind::number, 0, UINT64_MAX, false},
    {ConfigKey::debug_break, in_global, Kind::debug_break, 0, 0, false},
    {ConfigKey::debug_guest, in_global, Kind::guest_name, 0, 0, false},
    {ConfigKey::test_corrupt_guest_state, in_guest, Kind::boolean, 0, 0, false},
    {ConfigKey::test_fail_vmxon, in_global, Kind::boolean, 0, 0, false},
};
static_assert(sizeof key_table / sizeof key_table[0] == config_key_count);

// Optimal string alignment distance (Levenshtein plus adjacent swaps), ASCII case-insensitive.
unsigned distance(Span a, const char* b) {
    constexpr std::size_t cap = 40;
    const std::size_t bn = length(b);
    if (a.n > cap || bn > cap) return 1000;
    unsigned rows[3][cap + 1]; // rows for b[..i-2], b[..i-1], b[..i]
    for (std::size_t j = 0; j <= a.n; ++j)
        rows[1][j] = static_cast<unsigned>(j);
    for (std::size_t i = 1; i <= bn; ++i) {
        unsigned* cur = rows[(i + 1) % 3];
        const unsigned* prev = rows[i % 3];
        const unsigned* prev2 = rows[(i + 2) % 3];
        cur[0] = static_cast<unsigned>(i);
        for (std::size_t j = 1; j <= a.n; ++j) {
            const unsigned cost = lower(a.p[j - 1]) == lower(b[i - 1]) ? 0 : 1;
            unsigned d = prev[j - 1] + cost;
            if (prev[j] + 1 < d) d = prev[j] + 1;
            if (cur[j - 1] + 1 < d) d = cur[j - 1] + 1;
            if (i > 1 && j > 1 && lower(a.p[j - 1]) == lower(b[i - 2]) &&
                lower(a.p[j - 2]) == lower(b[i - 1]) && prev2[j - 2] + 1 < d) {
                d = prev2[j - 2] + 1;
            }
            cur[j] = d;
        }
    }
    return rows[(bn + 1) % 3][a.n];
}

// The closest key (preferring those valid in `scope`), or null when none is close.
const char* suggest(Span name, std::uint8_t scope) {
    const char* best = nullptr;
    unsigned best_d = 3;
    for (int pass = 0; pass < 2 && best == nullptr; ++pass) {
        for (const KeyInfo& k : key_table) {
            if (pass == 0 && (k.scope & scope) == 0) continue;
            const char* candidate = config_key_name(k.key);
            const unsigned d = distance(name, candidate);
            if (d < best_d && 2 * d < length(candidate)) {
                best = candidate;
                best_d = d;
            }
        }
    }
    return best;
}

// s equals `lit` ignoring ASCII case.
bool same_word(Span s, const char* lit) {
    std::size_t i = 0;
    for (; i < s.n; ++i) {
        if (lit[i] == '\0' || lower(lit[i]) != lower(s.p[i])) return false;
    }
    return lit[i] == '\0';
}

constexpr std::size_t max_quoted = 40;

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

void store_number(Target t, ConfigKey k, std::uint64_t v) {
    const auto v32 = static_cast<std::uint32_t>(v); // every 32-bit key's range fits
    Config& c = t.cfg;
    GuestConfig* g = t.guest;
    switch (k) {
    case ConfigKey::duration_ms:
        c.duration_ms = v32;
        break;
    case ConfigKey::slice_us:
        (g != nullptr ? g->slice_us : c.slice_us) = v32;
        break;
    case ConfigKey::tick_hz:
        (g != nullptr ? g->tick_hz : c.tick_hz) = v32;
        break;
    case ConfigKey::memory_mib:
        (g != nullptr ? g->memory_mib : c.memory_mib) = v32;
        break;
    case ConfigKey::period_us:
        (g != nullptr ? g->period_us : c.period_us) = v32;
        break;
    case ConfigKey::tsc_hz:
        c.tsc_hz = v;
        break;
    case ConfigKey::cap_percent:
        (g != nullptr ? g->cap_percent : c.cap_percent) = v32;
        break;
    case ConfigKey::param:
        if (g != nullptr) g->param = v;
        break;
    default:
        break;
    }
}

bool assign_number(Target t, const KeyInfo& k, Span v, Text& msg) {
    std::uint64_t n = 0;
    const Number parsed = parse_number(v, n);
    if (parsed == Number::invalid) {
        quoted(msg, v);
        msg.str(" is not a whole number");
        if (v.p[0] == '-' || v.p[0] == '+') msg.str(" (no sign allowed)");
        if (v.n > 1 && v.p[0] == '0' && lower(v.p[1]) == 'x') msg.str(" (decimal digits only)");
        return false;
    }
    if (parsed == Number::overflow || ((n < k.min || n > k.max) && !(k.zero_ok && n == 0))) {
        quoted(msg, v);
        msg.str(" is out of range ");
        if (k.zero_ok) msg.str("(0 or ");
        msg.dec(k.min).str("..").dec(k.max);
        if (k.zero_ok) msg.chr(')');
        return false;
    }
    store_number(t, k.key, n);
    return true;
}

bool assign_word(Span v, const char* const* words, unsigned count, unsigned& out, Text& msg) {
    for (unsigned i = 0; i < count; ++i) {
        if (same_word(v, words[i])) {
            out = i;
            return true;
        }
    }
    quoted(msg, v);
    msg.str(" is not one of ");
    for (unsigned i = 0; i < count; ++i)
        msg.str(i > 0 ? ", " : "").str(words[i]);
    return false;
}

bool assign_boolean(Span v, bool& out, Text& msg) {
    static constexpr const char* words[] = {"0", "1", "false", "true", "no", "yes", "off", "on"};
    unsigned i = 0;
    if (!assign_word(v, words, 8, i, msg)) return false;
    out = (i % 2) == 1;
    return true;
}

bool assign_image(GuestConfig& g, Span v, Text& msg) {
    for (const char* w : builtin_workloads) {
        if (same(v, w)) {
            std::size_t i = 0;
            for (; w[i] != '\0'; ++i)
                g.image[i] = w[i];
            g.image[i] = '\0';
            g.image_is_builtin = true;
            return true;
        }
    }
    if (v.p[0] != '\\') {
        quoted(msg, v);
        if (v.p[0] == '/') {
            msg.str(" is not a path on the ESP: paths start with '\\' and use '\\' between "
                    "folders (e.g. \\guests\\a.elf)");
            return false;
        }
        msg.str(" is not a built-in workload (");
        for (unsigned i = 0; i < builtin_workload_count; ++i) {
            msg.str(i > 0 ? ", " : "").str(builtin_workloads[i]);
        }
        msg.str(") or a path starting with '\\'");
        return false;
    }
    if (v.n > max_image_length) {
        msg.str("path is too long (").dec(v.n).str(" characters, at most ");
        msg.dec(max_image_length).chr(')');
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
    for (std::size_t i = 0; i < v.n; ++i)
        g.image[i] = v.p[i];
    g.image[v.n] = '\0';
    g.image_is_builtin = false;
    return true;
}

// A guest name as [guest NAME] allows it; whether such a guest exists is finalize_config's check.
bool assign_guest_name(char (&out)[max_name_length + 1], Span v, Text& msg) {
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
    for (std::size_t i = 0; i < v.n; ++i)
        out[i] = v.p[i];
    out[v.n] = '\0';
    return true;
}

} // namespace

const KeyInfo* find_key(Span name) {
    for (const KeyInfo& k : key_table) {
        if (same(name, config_key_name(k.key))) return &k;
    }
    return nullptr;
}

void quoted(Text& t, Span s) {
    t.chr('\'');
    for (std::size_t i = 0; i < s.n && i < max_quoted; ++i) {
        const auto c = static_cast<unsigned char>(s.p[i]);
        if (c < 0x20 || c >= 0x7f) {
            t.str("\\x").chr("0123456789abcdef"[c >> 4]).chr("0123456789abcdef"[c & 0xf]);
        } else {
            t.chr(static_cast<char>(c));
        }
    }
    if (s.n > max_quoted) t.str("...");
    t.chr('\'');
}

Text fail(ConfigResult& r, ConfigSource source, unsigned line, Span key) {
    r.ok = false;
    r.source = source;
    r.line = line;
    std::size_t i = 0;
    for (; i < key.n && i + 1 < sizeof r.key; ++i) {
        const char c = key.p[i];
        r.key[i] = (c > 0x20 && c < 0x7f) ? c : '?';
    }
    r.key[i] = '\0';
    return Text(r.message, sizeof r.message);
}

void unknown_key(Text& msg, Span name, std::uint8_t scope) {
    msg.str("unknown key ");
    quoted(msg, name);
    if (const char* hint = suggest(name, scope)) {
        msg.str(" (did you mean '").str(hint).str("'?)");
    } else {
        msg.str(" (keys here:");
        const char* sep = " ";
        for (const KeyInfo& k : key_table) {
            // The test-only keys work but are not advertised to users.
            if ((k.scope & scope) == 0 || k.key == ConfigKey::test_corrupt_guest_state ||
                k.key == ConfigKey::test_fail_vmxon)
                continue;
            msg.str(sep).str(config_key_name(k.key));
            sep = ", ";
        }
        msg.chr(')');
    }
}

bool assign(Target t, const KeyInfo& k, Span v, ValueOrigin where, ConfigResult& r) {
    const char* name = config_key_name(k.key);
    Text msg = fail(r, where.source, where.line, text_of(name));
    msg.str("key '").str(name).str("': ");
    bool ok = false;
    unsigned word = 0;
    switch (k.kind) {
    case Kind::number:
        ok = assign_number(t, k, v, msg);
        break;
    case Kind::boolean: {
        bool b = false;
        ok = assign_boolean(v, b, msg);
        if (ok && k.key == ConfigKey::test_corrupt_guest_state) {
            if (t.guest != nullptr) t.guest->test_corrupt_guest_state = b;
        } else if (ok && k.key == ConfigKey::test_fail_vmxon) {
            t.cfg.test_fail_vmxon = b;
        } else if (ok) {
            (t.guest != nullptr ? t.guest->yield_on_hlt : t.cfg.yield_on_hlt) = b;
        }
        break;
    }
    case Kind::policy: {
        static constexpr const char* words[] = {"fixed", "shared", "capped"};
        ok = assign_word(v, words, 3, word, msg);
        if (ok) t.cfg.policy = static_cast<Policy>(word);
        break;
    }
    case Kind::on_guest_exit: {
        static constexpr const char* words[] = {"reserve", "reclaim"};
        ok = assign_word(v, words, 2, word, msg);
        if (ok) t.cfg.on_guest_exit = static_cast<OnGuestExit>(word);
        break;
    }
    case Kind::on_finish: {
        static constexpr const char* words[] = {"return_to_firmware", "shutdown"};
        ok = assign_word(v, words, 2, word, msg);
        if (ok) t.cfg.on_finish = static_cast<OnFinish>(word);
        break;
    }
    case Kind::image:
        ok = t.guest != nullptr && assign_image(*t.guest, v, msg);
        break;
    case Kind::debug_break: {
        static constexpr const char* words[] = {"none", "start", "vmentry"};
        ok = assign_word(v, words, 3, word, msg);
        if (ok) t.cfg.debug_break = static_cast<DebugBreak>(word);
        break;
    }
    case Kind::guest_name:
        ok = assign_guest_name(t.cfg.debug_guest, v, msg);
        break;
    }
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
