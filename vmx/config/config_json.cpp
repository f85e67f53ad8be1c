// The effective configuration as JSON, for the report: every key from the key list
// (vmx/config/config_keys.hpp), globals first, then each guest's.
#include "vmx/config/config_syntax.hpp"

#include <type_traits>

namespace vmx {
namespace {

// The JSON value of one key.
using config_syntax::KindTag;
void write_json(KindTag<ConfigKind::uint32>, std::uint32_t v, const Config&, Text& out) {
    out.dec(v);
}
template <ConfigKind K>
    requires(K == ConfigKind::uint64 || K == ConfigKind::uint64_or_0)
void write_json(KindTag<K>, std::uint64_t v, const Config&, Text& out) {
    out.dec(v);
}
void write_json(KindTag<ConfigKind::boolean>, bool v, const Config&, Text& out) {
    out.str(v ? "true" : "false");
}
template <ConfigKind K>
    requires std::is_enum_v<config_value_t<K>>
void write_json(KindTag<K>, config_value_t<K> v, const Config&, Text& out) {
    out.json_string(config_syntax::EnumWords<config_value_t<K>>::word(v));
}
template <ConfigKind K>
    requires(K == ConfigKind::path || K == ConfigKind::guest_name)
void write_json(KindTag<K>, const char* v, const Config&, Text& out) {
    out.json_string(v);
}
void write_json(KindTag<ConfigKind::image>, const char* v, const Config&, Text& out) {
    out.json_string(v).str(",\"builtin\":").str(is_builtin_workload(v) ? "true" : "false");
}
void write_json(KindTag<ConfigKind::cmdline>, ConfigText v, const Config& cfg, Text& out) {
    out.json_string(config_text(cfg, v));
}

// Keys the JSON leaves out: an empty text (nothing to state), a test_* switch that is off.
bool left_out(bool v, bool test_only) {
    return test_only && !v;
}
bool left_out(const char* v, bool) {
    return v[0] == '\0';
}
bool left_out(ConfigText v, bool) {
    return v.length == 0;
}
template <class T>
    requires(!std::is_same_v<T, bool>)
bool left_out(T, bool) {
    return false;
}

// `"key":value` for every key of the Config (guest null) or of one guest, each after `sep`
// (which becomes "," after the first).
void write_keys(const Config& cfg, const GuestConfig* guest, Text& out, const char*& sep) {
    for (const config_syntax::KeyInfo& k : config_syntax::key_table) {
        config_syntax::visit_field(cfg, guest, k.key, [&](auto kind, const auto& field) {
            if (left_out(field, config_syntax::is_test_only(k))) return false;
            out.str(sep).chr('"').str(k.name).str("\":");
            write_json(kind, field, cfg, out);
            sep = ",";
            return true;
        });
    }
}

} // namespace

void format_config(const Config& cfg, Text& out) {
    out.chr('{');
    const char* sep = "";
    write_keys(cfg, nullptr, out, sep);
    out.str(sep).str("\"guests\":[");
    for (unsigned i = 0; i < cfg.guest_count && i < max_guests; ++i) {
        const GuestConfig& g = cfg.guests[i];
        out.str(i > 0 ? ",{" : "{").str("\"name\":").json_string(g.name);
        const char* guest_sep = ",";
        write_keys(cfg, &g, out, guest_sep);
        out.chr('}');
    }
    out.str("]}");
}

} // namespace vmx
