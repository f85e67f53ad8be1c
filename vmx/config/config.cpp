// The configuration model: defaults, inheritance and the rules that span keys (finalize_config),
// and the two printers (error line, JSON). The text parsers live in config_parse.cpp.
#include "vmx/config/config.hpp"

#include "vmx/lib/text.hpp"

namespace vmx {
namespace {

bool equal(const char* a, const char* b) {
    while (*a != '\0' && *a == *b) {
        ++a;
        ++b;
    }
    return *a == *b;
}

void copy(char* dst, std::size_t cap, const char* src) {
    std::size_t i = 0;
    for (; i + 1 < cap && src[i] != '\0'; ++i)
        dst[i] = src[i];
    if (cap > 0) dst[i] = '\0';
}

unsigned index(ConfigKey k) {
    return static_cast<unsigned>(k);
}

// The most specific value that was set explicitly decides where an error points.
struct Blame {
    ValueOrigin origin;
    ConfigKey key;
};

bool blame_if_set(const ValueOrigin& o, ConfigKey k, Blame& out) {
    if (o.source == ConfigSource::none) return false;
    out = Blame{o, k};
    return true;
}

void guest_ref(Text& t, const GuestConfig& g) {
    t.str("[guest ").str(g.name).chr(']');
}

void inherit(GuestConfig& g, const Config& cfg) {
    if (!g.is_set(ConfigKey::slice_us)) g.slice_us = cfg.slice_us;
    if (!g.is_set(ConfigKey::yield_on_hlt)) g.yield_on_hlt = cfg.yield_on_hlt;
    if (!g.is_set(ConfigKey::tick_hz)) g.tick_hz = cfg.tick_hz;
    if (!g.is_set(ConfigKey::memory_mib)) g.memory_mib = cfg.memory_mib;
    if (!g.is_set(ConfigKey::period_us)) g.period_us = cfg.period_us;
    if (!g.is_set(ConfigKey::cap_percent)) g.cap_percent = cfg.cap_percent;
}

// Fills `r` with an error pointing at `b`; the caller writes the message through the Text.
void fail_at(ConfigResult& r, const Blame& b) {
    r.ok = false;
    r.source = b.origin.source;
    r.line = b.origin.line;
    copy(r.key, sizeof r.key, config_key_name(b.key));
}

Blame pick(const GuestConfig& g, const Config& cfg, ConfigKey first, ConfigKey second,
           ConfigKey fallback) {
    Blame b{g.section, fallback};
    if (blame_if_set(g.origin[index(first)], first, b)) return b;
    if (blame_if_set(g.origin[index(second)], second, b)) return b;
    if (blame_if_set(cfg.origin[index(first)], first, b)) return b;
    if (blame_if_set(cfg.origin[index(second)], second, b)) return b;
    return b;
}

bool check_guest(const Config& cfg, const GuestConfig& g, ConfigResult& r) {
    Text msg(r.message, sizeof r.message);
    if (g.image[0] == '\0') {
        fail_at(r, Blame{g.section, ConfigKey::image});
        guest_ref(msg, g);
        msg.str(" has no image: add 'image = NAME' with a built-in workload or a path starting "
                "with '\\'");
        return false;
    }
    if (g.image_is_builtin && equal(g.image, "idle") && g.tick_hz == 0) {
        fail_at(r, pick(g, cfg, ConfigKey::tick_hz, ConfigKey::tick_hz, ConfigKey::tick_hz));
        guest_ref(msg, g);
        msg.str(": the idle workload needs tick_hz > 0");
        return false;
    }
    if (cfg.policy == Policy::capped && g.slice_us > g.period_us) {
        fail_at(r, pick(g, cfg, ConfigKey::slice_us, ConfigKey::period_us, ConfigKey::slice_us));
        guest_ref(msg, g);
        msg.str(": slice_us ").dec(g.slice_us).str(" is longer than period_us ").dec(g.period_us);
        msg.str(" (under policy capped a slice must fit in a period)");
        return false;
    }
    if (static_cast<std::uint64_t>(cfg.duration_ms) * 1000 < g.slice_us) {
        Blame b{g.section, ConfigKey::duration_ms};
        if (!blame_if_set(cfg.origin[index(ConfigKey::duration_ms)], ConfigKey::duration_ms, b)) {
            b = pick(g, cfg, ConfigKey::slice_us, ConfigKey::slice_us, ConfigKey::duration_ms);
        }
        fail_at(r, b);
        msg.str("duration_ms ").dec(cfg.duration_ms).str(" is shorter than one slice of ");
        guest_ref(msg, g);
        msg.str(" (slice_us ").dec(g.slice_us).chr(')');
        return false;
    }
    return true;
}

// debug_guest picks the guest whose first VM entry stops in the debugger (vmx/hw/debug_break.hpp).
bool check_debug_guest(const Config& cfg, ConfigResult& r) {
    if (cfg.debug_guest[0] == '\0') return true;
    const Blame b{cfg.origin[index(ConfigKey::debug_guest)], ConfigKey::debug_guest};
    Text msg(r.message, sizeof r.message);
    if (cfg.debug_break != DebugBreak::vmentry) {
        fail_at(r, b);
        msg.str("debug_guest needs debug_break = vmentry (debug_break is ");
        msg.str(debug_break_name(cfg.debug_break)).chr(')');
        return false;
    }
    if (find_guest(cfg, cfg.debug_guest) == nullptr) {
        fail_at(r, b);
        msg.str("debug_guest: no guest named '").str(cfg.debug_guest).str("' in the configuration");
        return false;
    }
    return true;
}

} // namespace

bool is_builtin_workload(const char* name) {
    if (name == nullptr) return false;
    for (const char* w : builtin_workloads) {
        if (equal(w, name)) return true;
    }
    return false;
}

const char* config_key_name(ConfigKey key) {
    switch (key) {
    case ConfigKey::duration_ms:
        return "duration_ms";
    case ConfigKey::slice_us:
        return "slice_us";
    case ConfigKey::policy:
        return "policy";
    case ConfigKey::yield_on_hlt:
        return "yield_on_hlt";
    case ConfigKey::on_guest_exit:
        return "on_guest_exit";
    case ConfigKey::on_finish:
        return "on_finish";
    case ConfigKey::tick_hz:
        return "tick_hz";
    case ConfigKey::memory_mib:
        return "memory_mib";
    case ConfigKey::period_us:
        return "period_us";
    case ConfigKey::tsc_hz:
        return "tsc_hz";
    case ConfigKey::image:
        return "image";
    case ConfigKey::cap_percent:
        return "cap_percent";
    case ConfigKey::param:
        return "param";
    case ConfigKey::debug_break:
        return "debug_break";
    case ConfigKey::debug_guest:
        return "debug_guest";
    case ConfigKey::test_corrupt_guest_state:
        return "test_corrupt_guest_state";
    case ConfigKey::test_fail_vmxon:
        return "test_fail_vmxon";
    }
    return "?";
}

const char* debug_break_name(DebugBreak b) {
    switch (b) {
    case DebugBreak::none:
        return "none";
    case DebugBreak::start:
        return "start";
    case DebugBreak::vmentry:
        return "vmentry";
    }
    return "?";
}

const char* on_finish_name(OnFinish f) {
    switch (f) {
    case OnFinish::return_to_firmware:
        return "return_to_firmware";
    case OnFinish::shutdown:
        return "shutdown";
    }
    return "?";
}

void reset_config(Config& out) {
    out.duration_ms = 1000;
    out.slice_us = 1000;
    out.policy = Policy::fixed;
    out.yield_on_hlt = false;
    out.on_guest_exit = OnGuestExit::reserve;
    out.on_finish = OnFinish::return_to_firmware;
    out.tick_hz = 0;
    out.memory_mib = 2;
    out.period_us = 100000;
    out.cap_percent = 100;
    out.tsc_hz = 0;
    out.debug_break = DebugBreak::none;
    out.debug_guest[0] = '\0';
    out.test_fail_vmxon = false;
    for (auto& o : out.origin)
        o = ValueOrigin{};
    for (auto& g : out.guests) {
        g.name[0] = '\0';
        g.image[0] = '\0';
        g.image_is_builtin = false;
        g.slice_us = 0;
        g.yield_on_hlt = false;
        g.tick_hz = 0;
        g.memory_mib = 0;
        g.cap_percent = 100;
        g.period_us = 0;
        g.param = 0;
        g.test_corrupt_guest_state = false;
        g.section = ValueOrigin{};
        for (auto& o : g.origin)
            o = ValueOrigin{};
    }
    out.guest_count = 0;
    out.finalized = false;
}

const GuestConfig* find_guest(const Config& cfg, const char* name) {
    if (name == nullptr) return nullptr;
    for (unsigned i = 0; i < cfg.guest_count && i < max_guests; ++i) {
        if (equal(cfg.guests[i].name, name)) return &cfg.guests[i];
    }
    return nullptr;
}

ConfigResult finalize_config(Config& cfg) {
    ConfigResult r;
    cfg.finalized = false;
    if (!cfg.is_set(ConfigKey::on_guest_exit)) {
        cfg.on_guest_exit =
            cfg.policy == Policy::fixed ? OnGuestExit::reserve : OnGuestExit::reclaim;
    }
    if (cfg.guest_count == 0 || cfg.guest_count > max_guests) {
        r.ok = false;
        r.source = ConfigSource::file;
        Text(r.message, sizeof r.message)
            .str("no guests: add at least one [guest NAME] section with an image");
        return r;
    }
    for (unsigned i = 0; i < cfg.guest_count; ++i) {
        GuestConfig& g = cfg.guests[i];
        inherit(g, cfg);
        if (!check_guest(cfg, g, r)) return r;
    }
    if (!check_debug_guest(cfg, r)) return r;
    cfg.finalized = true;
    return r;
}

ConfigResult load_config(const char* text, std::size_t len, const char* options, std::size_t olen,
                         Config& out) {
    ConfigResult r = parse_config(text, len, out);
    if (!r.ok) return r;
    if (options != nullptr && olen > 0) {
        r = apply_load_options(out, options, olen);
        if (!r.ok) return r;
    }
    return finalize_config(out);
}

void format_config_error(const ConfigResult& result, const char* source_name, Text& out) {
    if (result.source == ConfigSource::load_options) {
        out.str("load options");
    } else {
        out.str(source_name != nullptr ? source_name : "configuration");
    }
    if (result.line > 0) out.chr(':').dec(result.line);
    out.str(": ").str(result.ok ? "ok" : result.message);
}

void format_config(const Config& cfg, Text& out) {
    auto boolean = [&out](bool v) { out.str(v ? "true" : "false"); };
    out.str("{\"duration_ms\":").dec(cfg.duration_ms);
    out.str(",\"slice_us\":").dec(cfg.slice_us);
    out.str(",\"policy\":").json_string(policy_name(cfg.policy));
    out.str(",\"yield_on_hlt\":");
    boolean(cfg.yield_on_hlt);
    out.str(",\"on_guest_exit\":").json_string(on_guest_exit_name(cfg.on_guest_exit));
    out.str(",\"on_finish\":").json_string(on_finish_name(cfg.on_finish));
    out.str(",\"tick_hz\":").dec(cfg.tick_hz);
    out.str(",\"memory_mib\":").dec(cfg.memory_mib);
    out.str(",\"period_us\":").dec(cfg.period_us).str(",\"cap_percent\":").dec(cfg.cap_percent);
    out.str(",\"tsc_hz\":").dec(cfg.tsc_hz);
    if (cfg.test_fail_vmxon) out.str(",\"test_fail_vmxon\":true");
    out.str(",\"guests\":[");
    for (unsigned i = 0; i < cfg.guest_count && i < max_guests; ++i) {
        const GuestConfig& g = cfg.guests[i];
        if (i > 0) out.chr(',');
        out.str("{\"name\":").json_string(g.name);
        out.str(",\"image\":").json_string(g.image);
        out.str(",\"builtin\":");
        boolean(g.image_is_builtin);
        out.str(",\"slice_us\":").dec(g.slice_us);
        out.str(",\"yield_on_hlt\":");
        boolean(g.yield_on_hlt);
        out.str(",\"tick_hz\":").dec(g.tick_hz);
        out.str(",\"memory_mib\":").dec(g.memory_mib);
        out.str(",\"cap_percent\":").dec(g.cap_percent);
        out.str(",\"period_us\":").dec(g.period_us);
        out.str(",\"param\":").dec(g.param);
        if (g.test_corrupt_guest_state) out.str(",\"test_corrupt_guest_state\":true");
        out.chr('}');
    }
    out.str("]}");
}

} // namespace vmx
