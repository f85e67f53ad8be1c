// Finding keys and saying what is wrong: the key lookup, near-miss suggestions, and error
// messages that quote user text safely.
#include "vmx/config/config_syntax.hpp"

namespace vmx::config_syntax {
namespace {

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
            const unsigned d = distance(name, k.name);
            if (d < best_d && 2 * d < length(k.name)) {
                best = k.name;
                best_d = d;
            }
        }
    }
    return best;
}

constexpr std::size_t max_quoted = 40;

} // namespace

const KeyInfo* find_key(Span name) {
    for (const KeyInfo& k : key_table) {
        if (same(name, k.name)) return &k;
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
            if ((k.scope & scope) == 0 || is_test_only(k)) continue;
            msg.str(sep).str(k.name);
            sep = ", ";
        }
        msg.chr(')');
    }
}

} // namespace vmx::config_syntax
