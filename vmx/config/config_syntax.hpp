// Internal to the configuration parser (config_values.cpp, config_parse.cpp,
// config_options.cpp): bounded spans over the input, the key table, error building and value
// assignment. Users include vmx/config/config.hpp instead.
#pragma once
#include "vmx/config/config.hpp"
#include "vmx/lib/text.hpp"

#include <cstddef>
#include <cstdint>

namespace vmx::config_syntax {

// A view of input bytes; never NUL-terminated, never read past `n`.
struct Span {
    const char* p;
    std::size_t n;
};

inline bool is_blank(char c) {
    return c == ' ' || c == '\t';
}
inline bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
inline char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline Span trim(Span s) {
    while (s.n > 0 && is_blank(s.p[0])) {
        ++s.p;
        --s.n;
    }
    while (s.n > 0 && is_blank(s.p[s.n - 1]))
        --s.n;
    return s;
}

inline std::size_t length(const char* s) {
    std::size_t n = 0;
    while (s[n] != '\0')
        ++n;
    return n;
}

inline Span text_of(const char* s) {
    return Span{s, length(s)};
}
inline Span no_key() {
    return Span{"", 0};
}

// s equals the NUL-terminated `lit` exactly.
inline bool same(Span s, const char* lit) {
    std::size_t i = 0;
    for (; i < s.n; ++i) {
        if (lit[i] == '\0' || lit[i] != s.p[i]) return false;
    }
    return lit[i] == '\0';
}

inline bool starts_with(Span s, const char* lit) {
    for (std::size_t i = 0; lit[i] != '\0'; ++i) {
        if (i >= s.n || s.p[i] != lit[i]) return false;
    }
    return true;
}

// Index of the first `c` in s, or s.n.
inline std::size_t find(Span s, char c) {
    std::size_t i = 0;
    while (i < s.n && s.p[i] != c)
        ++i;
    return i;
}

inline unsigned key_index(ConfigKey k) {
    return static_cast<unsigned>(k);
}

enum class Kind : std::uint8_t {
    number,
    boolean,
    policy,
    on_guest_exit,
    on_finish,
    image,
    debug_break,
    guest_name
};
inline constexpr std::uint8_t in_global = 1;
inline constexpr std::uint8_t in_guest = 2;

struct KeyInfo {
    ConfigKey key;
    std::uint8_t scope; // in_global | in_guest
    Kind kind;
    std::uint64_t min;
    std::uint64_t max;
    bool zero_ok; // 0 is allowed besides min..max
};

// The key spelled exactly `name`, or null.
const KeyInfo* find_key(Span name);

// Marks `r` failed at (source, line) for `key` (kept as printable ASCII, cut to fit) and returns
// a builder for its message.
Text fail(ConfigResult& r, ConfigSource source, unsigned line, Span key);
// User text in quotes: control and non-ASCII bytes as \xNN, long text cut with "...".
void quoted(Text& t, Span s);
// "unknown key 'x' (did you mean 'y'?)", or the list of keys valid in `scope`.
void unknown_key(Text& msg, Span name, std::uint8_t scope);

struct Target {
    Config& cfg;
    GuestConfig* guest; // null: the global value
};
// Parses the non-empty `value` for key `k`, stores it in the target and records `where` as its
// origin; on a bad value fills `r` with the error and leaves the target as it was.
bool assign(Target t, const KeyInfo& k, Span value, ValueOrigin where, ConfigResult& r);

GuestConfig* find_guest_span(Config& cfg, Span name);

} // namespace vmx::config_syntax
