// The configuration model: defaults, inheritance and the rules that span keys (finalize_config),
// and the error line. The text parsers live in config_parse.cpp, the JSON in config_json.cpp.
#include "vmx/config/config.hpp"

#include "vmx/config/config_syntax.hpp"
#include "vmx/lib/text.hpp"

#include <type_traits>

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

template <class T> void set_value(T& field, const std::type_identity_t<T>& value) {
    field = value;
}
template <std::size_t N> void set_value(char (&field)[N], const char* value) {
    copy(field, N, value);
}

// Every `both` key the guest did not set takes the global value.
void inherit(GuestConfig& g, const Config& cfg) {
#define METRONOME_CONFIG_INHERIT_global(key)
#define METRONOME_CONFIG_INHERIT_guest(key)
#define METRONOME_CONFIG_INHERIT_both(key)                                                         \
    if (!g.is_set(ConfigKey::key)) set_value(g.key, cfg.key);
#define METRONOME_CONFIG_INHERIT(key, kind, scope, ...) METRONOME_CONFIG_INHERIT_##scope(key)
    METRONOME_CONFIG_KEYS(METRONOME_CONFIG_INHERIT)
#undef METRONOME_CONFIG_INHERIT
#undef METRONOME_CONFIG_INHERIT_global
#undef METRONOME_CONFIG_INHERIT_guest
#undef METRONOME_CONFIG_INHERIT_both
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

// What the guest runs: an image or a kernel, and only a kernel takes initrd and cmdline and more
// than max_image_memory_mib.
bool check_program(const Config& cfg, const GuestConfig& g, ConfigResult& r) {
    Text msg(r.message, sizeof r.message);
    if (g.image[0] == '\0' && !g.runs_kernel()) {
        fail_at(r, Blame{g.section, ConfigKey::image});
        guest_ref(msg, g);
        msg.str(" has no image: add 'image = NAME' with a built-in workload or a path starting "
                "with '\\', or 'kernel = PATH' for a Linux kernel");
        return false;
    }
    if (g.image[0] != '\0' && g.runs_kernel()) {
        fail_at(r, Blame{g.origin[index(ConfigKey::kernel)], ConfigKey::kernel});
        guest_ref(msg, g);
        msg.str(": kernel and image exclude each other: a guest runs a Linux kernel or an image "
                "(image is ").str(g.image).chr(')');
        return false;
    }
    static constexpr ConfigKey kernel_only[] = {ConfigKey::initrd, ConfigKey::cmdline};
    for (const ConfigKey k : kernel_only) {
        if (g.runs_kernel() || !g.is_set(k)) continue;
        fail_at(r, Blame{g.origin[index(k)], k});
        guest_ref(msg, g);
        msg.str(": ").str(config_key_name(k)).str(" is only for a guest with a kernel (this one ");
        msg.str("runs image ").str(g.image).chr(')');
        return false;
    }
    if (!g.runs_kernel() && g.memory_mib > max_image_memory_mib) {
        fail_at(r, pick(g, cfg, ConfigKey::memory_mib, ConfigKey::memory_mib, ConfigKey::memory_mib));
        guest_ref(msg, g);
        msg.str(": memory_mib ").dec(g.memory_mib).str(" is out of range 1..");
        msg.dec(max_image_memory_mib).str(" for a guest that runs an image (a kernel guest may ");
        msg.str("have up to ").dec(config_syntax::key_info(ConfigKey::memory_mib).max).chr(')');
        return false;
    }
    return true;
}

bool check_guest(const Config& cfg, const GuestConfig& g, ConfigResult& r) {
    if (!check_program(cfg, g, r)) return false;
    Text msg(r.message, sizeof r.message);
    if (g.image_is_builtin && equal(g.image, "idle") && g.tick_hz == 0) {
        fail_at(r, pick(g, cfg, ConfigKey::tick_hz, ConfigKey::tick_hz, ConfigKey::tick_hz));
        guest_ref(msg, g);
        msg.str(": the idle workload needs tick_hz > 0");
        return false;
    }
    if (g.runs_kernel() && g.tick_hz != 0) {
        fail_at(r, pick(g, cfg, ConfigKey::tick_hz, ConfigKey::tick_hz, ConfigKey::tick_hz));
        guest_ref(msg, g);
        msg.str(": tick_hz must be 0 for a kernel guest (its timer is its own local APIC's)");
        return false;
    }
    if (g.tsc == TscMode::own && g.yield_on_hlt) {
        fail_at(r, pick(g, cfg, ConfigKey::tsc, ConfigKey::yield_on_hlt, ConfigKey::tsc));
        guest_ref(msg, g);
        msg.str(": tsc = own needs yield_on_hlt = 0 (its clock stops while it has given the CPU ");
        msg.str("away, so no timer of its own could end a trapped HLT)");
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

// console_input names the Linux guest whose UART gets what is typed on COM1: only a kernel's
// virtual PC has a serial port to type into.
bool check_console_input(const Config& cfg, ConfigResult& r) {
    if (cfg.console_input[0] == '\0') return true;
    const Blame b{cfg.origin[index(ConfigKey::console_input)], ConfigKey::console_input};
    Text msg(r.message, sizeof r.message);
    const GuestConfig* g = find_guest(cfg, cfg.console_input);
    if (g == nullptr) {
        fail_at(r, b);
        msg.str("console_input: no guest named '").str(cfg.console_input).str("' in the configuration");
        return false;
    }
    if (!g->runs_kernel()) {
        fail_at(r, b);
        msg.str("console_input: guest '").str(cfg.console_input);
        msg.str("' runs no kernel (only a Linux guest has a serial port to type into)");
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
    const unsigned i = index(key);
    return i < config_key_count ? config_syntax::key_table[i].name : "?";
}

const char* config_text(const Config& cfg, ConfigText text) {
    if (text.length == 0 || text.offset + text.length >= cmdline_pool_size) return "";
    return cfg.cmdline_pool + text.offset;
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

const char* tsc_mode_name(TscMode m) {
    switch (m) {
    case TscMode::wall:
        return "wall";
    case TscMode::own:
        return "own";
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
#define METRONOME_CONFIG_RESET_GLOBAL(key, kind, scope, min, max, default_value, doc)              \
    METRONOME_CONFIG_IN_GLOBAL_##scope(set_value(out.key, default_value);)
#define METRONOME_CONFIG_RESET_GUEST(key, kind, scope, min, max, default_value, doc)               \
    METRONOME_CONFIG_IN_GUEST_##scope(set_value(g.key, default_value);)
    METRONOME_CONFIG_KEYS(METRONOME_CONFIG_RESET_GLOBAL)
    for (auto& o : out.origin)
        o = ValueOrigin{};
    for (auto& g : out.guests) {
        g.name[0] = '\0';
        METRONOME_CONFIG_KEYS(METRONOME_CONFIG_RESET_GUEST)
        g.image_is_builtin = false;
        g.section = ValueOrigin{};
        for (auto& o : g.origin)
            o = ValueOrigin{};
    }
#undef METRONOME_CONFIG_RESET_GLOBAL
#undef METRONOME_CONFIG_RESET_GUEST
    out.guest_count = 0;
    out.cmdline_pool_used = 0;
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
    if (!check_console_input(cfg, r)) return r;
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

} // namespace vmx
