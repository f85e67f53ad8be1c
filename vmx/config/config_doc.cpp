// The README's configuration key table, written from the key list (vmx/config/config_keys.hpp):
// build/tools/config-keys prints it, tests/unit/config_doc_test.cpp checks that the README holds
// exactly this, so the documentation cannot drift from the parser.
#include "vmx/config/config_doc.hpp"

#include "vmx/config/config_syntax.hpp"

#include <type_traits>

namespace vmx {
namespace {

using config_syntax::KindTag;

// The accepted values of each kind, in words.
template <ConfigKind K> void describe_values(KindTag<K>, const config_syntax::KeyInfo& k, Text& out) {
    using T = config_value_t<K>;
    if constexpr (K == ConfigKind::uint32 || K == ConfigKind::uint64) {
        out.dec(k.min).str("..").dec(k.max);
    } else if constexpr (K == ConfigKind::uint64_or_0) {
        out.str("0, or ").dec(k.min).str("..").dec(k.max);
    } else if constexpr (K == ConfigKind::boolean) {
        out.str("boolean");
    } else if constexpr (std::is_enum_v<T>) {
        for (unsigned i = 0; i < config_syntax::EnumWords<T>::count; ++i)
            out.str(i > 0 ? " \\| " : "").chr('`').str(config_syntax::EnumWords<T>::word(static_cast<T>(i))).chr('`');
    } else if constexpr (K == ConfigKind::image) {
        out.str("a built-in workload, or a path");
    } else if constexpr (K == ConfigKind::path) {
        out.str("a path");
    } else if constexpr (K == ConfigKind::cmdline) {
        out.str("text, at most ").dec(max_cmdline_length).str(" bytes");
    } else {
        static_assert(K == ConfigKind::guest_name);
        out.str("a guest's NAME");
    }
}

void describe_default(KindTag<ConfigKind::uint32>, std::uint64_t v, Text& out) { out.dec(v); }
void describe_default(KindTag<ConfigKind::uint64>, std::uint64_t v, Text& out) { out.dec(v); }
void describe_default(KindTag<ConfigKind::uint64_or_0>, std::uint64_t v, Text& out) { out.dec(v); }
void describe_default(KindTag<ConfigKind::boolean>, bool v, Text& out) { out.str(v ? "1" : "0"); }
template <ConfigKind K>
    requires std::is_enum_v<config_value_t<K>>
void describe_default(KindTag<K>, config_value_t<K> v, Text& out) {
    out.chr('`').str(config_syntax::EnumWords<config_value_t<K>>::word(v)).chr('`');
}
template <ConfigKind K>
    requires(K == ConfigKind::image || K == ConfigKind::path || K == ConfigKind::guest_name)
void describe_default(KindTag<K>, const char* v, Text& out) {
    if (v[0] == '\0') {
        out.str("none");
    } else {
        out.chr('`').str(v).chr('`');
    }
}
void describe_default(KindTag<ConfigKind::cmdline>, ConfigText, Text& out) { out.str("none"); }

const char* scope_words(std::uint8_t scope) {
    if (scope == config_syntax::scope_both) return "global, guest";
    return scope == config_syntax::scope_global ? "global" : "guest";
}

} // namespace

void write_config_key_table(Text& out) {
    out.str("| key | where | values | default | meaning |\n");
    out.str("|---|---|---|---|---|\n");
#define METRONOME_CONFIG_DOC_ROW(key, kind, scope_, min_, max_, default_value, doc_)              \
    {                                                                                              \
        const config_syntax::KeyInfo& k = config_syntax::key_info(ConfigKey::key);                 \
        out.str("| `").str(k.name).str("` | ").str(scope_words(k.scope)).str(" | ");               \
        describe_values(KindTag<ConfigKind::kind>{}, k, out);                                      \
        out.str(" | ");                                                                            \
        describe_default(KindTag<ConfigKind::kind>{}, default_value, out);                         \
        out.str(" | ").str(k.doc).str(" |\n");                                                     \
    }
    METRONOME_CONFIG_KEYS(METRONOME_CONFIG_DOC_ROW)
#undef METRONOME_CONFIG_DOC_ROW
}

} // namespace vmx
