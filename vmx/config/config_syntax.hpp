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

inline constexpr std::uint8_t in_global = 1;
inline constexpr std::uint8_t in_guest = 2;
inline constexpr std::uint8_t scope_global = in_global;
inline constexpr std::uint8_t scope_guest = in_guest;
inline constexpr std::uint8_t scope_both = in_global | in_guest;

struct KeyInfo {
    ConfigKey key;
    const char* name;
    std::uint8_t scope; // in_global | in_guest
    ConfigKind kind;
    std::uint64_t min;
    std::uint64_t max;
    const char* doc;
};

// Every key, in the list's order (vmx/config/config_keys.hpp).
inline constexpr KeyInfo key_table[] = {
#define METRONOME_CONFIG_KEY_INFO(key, kind, scope, min, max, default_value, doc)                  \
    {ConfigKey::key, #key, scope_##scope, ConfigKind::kind, min, max, doc},
    METRONOME_CONFIG_KEYS(METRONOME_CONFIG_KEY_INFO)
#undef METRONOME_CONFIG_KEY_INFO
};
static_assert(sizeof key_table / sizeof key_table[0] == config_key_count);

inline const KeyInfo& key_info(ConfigKey k) {
    return key_table[static_cast<unsigned>(k)];
}

// test_* keys work but are not offered to users (config_keys.hpp).
inline bool is_test_only(const KeyInfo& k) {
    return starts_with(text_of(k.name), "test_");
}

// Carries a key's kind into the overloads that read, print and describe its value.
template <ConfigKind K> struct KindTag {
    static constexpr ConfigKind kind = K;
};

// Calls f(KindTag<kind>{}, field) with the field of key `k`: the guest's when `guest` is not null
// (a guest or both key), else the Config's (a global or both key). False when the key has no
// field there. C is Config or const Config, G GuestConfig or const GuestConfig.
#define METRONOME_CONFIG_VISIT_global(key, kind)                                                   \
    return guest == nullptr && f(KindTag<ConfigKind::kind>{}, cfg.key);
#define METRONOME_CONFIG_VISIT_guest(key, kind)                                                    \
    return guest != nullptr && f(KindTag<ConfigKind::kind>{}, guest->key);
#define METRONOME_CONFIG_VISIT_both(key, kind)                                                     \
    return guest != nullptr ? f(KindTag<ConfigKind::kind>{}, guest->key)                           \
                            : f(KindTag<ConfigKind::kind>{}, cfg.key);
template <class C, class G, class F> bool visit_field(C& cfg, G* guest, ConfigKey k, F&& f) {
    switch (k) {
#define METRONOME_CONFIG_VISIT(key, kind, scope, ...)                                              \
    case ConfigKey::key:                                                                           \
        METRONOME_CONFIG_VISIT_##scope(key, kind)
        METRONOME_CONFIG_KEYS(METRONOME_CONFIG_VISIT)
#undef METRONOME_CONFIG_VISIT
    }
    return false;
}
#undef METRONOME_CONFIG_VISIT_global
#undef METRONOME_CONFIG_VISIT_guest
#undef METRONOME_CONFIG_VISIT_both

// The enum kinds: the words of the file are the enumerators' names, in order.
template <class E> struct EnumWords;
template <> struct EnumWords<Policy> {
    static constexpr unsigned count = 3;
    static const char* word(Policy p) { return policy_name(p); }
};
template <> struct EnumWords<OnGuestExit> {
    static constexpr unsigned count = 2;
    static const char* word(OnGuestExit m) { return on_guest_exit_name(m); }
};
template <> struct EnumWords<OnFinish> {
    static constexpr unsigned count = 2;
    static const char* word(OnFinish f) { return on_finish_name(f); }
};
template <> struct EnumWords<DebugBreak> {
    static constexpr unsigned count = 3;
    static const char* word(DebugBreak b) { return debug_break_name(b); }
};
template <> struct EnumWords<TscMode> {
    static constexpr unsigned count = 2;
    static const char* word(TscMode m) { return tsc_mode_name(m); }
};
static_assert(static_cast<unsigned>(Policy::capped) + 1 == EnumWords<Policy>::count);
static_assert(static_cast<unsigned>(OnGuestExit::reclaim) + 1 == EnumWords<OnGuestExit>::count);
static_assert(static_cast<unsigned>(OnFinish::shutdown) + 1 == EnumWords<OnFinish>::count);
static_assert(static_cast<unsigned>(DebugBreak::vmentry) + 1 == EnumWords<DebugBreak>::count);
static_assert(static_cast<unsigned>(TscMode::own) + 1 == EnumWords<TscMode>::count);

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
