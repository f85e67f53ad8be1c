// The configuration model and its parser: `\metronome.cfg` plus `key=value` load options.
//
// Pure and freestanding: no heap, no libc, no exceptions, fixed capacity. The parser reads any
// bytes (NUL, non-ASCII, CRLF, no trailing newline, megabytes of garbage) without reading out of
// bounds, in one pass, and stops at the first mistake with one error that names the line (or the
// load-option word) and the key.
//
// Sequence:
//   parse_config(text)        resets the Config and reads the file (values as written);
//   apply_load_options(opts)  overrides global keys and guest.NAME.key keys (0 or more times);
//   finalize_config()         fills every guest key the guest did not set from the global value,
//                             applies the policy-dependent on_guest_exit default, and checks the
//                             rules that span keys.
//   load_config() does all three. Only a finalized Config (`finalized` true) is meant to be run.
// Because inheritance happens in finalize_config, a global override from the load options (say
// `slice_us=500`) reaches every guest that did not set slice_us itself, in the file or by a
// `guest.NAME.slice_us=` option; a guest's own value always wins over the global one.
// finalize_config is idempotent; apply_load_options after it clears `finalized`.
//
// File syntax:
//   - lines end in LF or CRLF; the last line needs no newline; a UTF-8 byte-order mark is skipped;
//   - at most `max_line_length` bytes a line; control characters other than tab are errors;
//   - `#` starts a comment anywhere, to the end of the line (so a path cannot contain '#');
//   - `key = value`, spaces and tabs around both optional; no quotes;
//   - `[guest NAME]` starts a guest section; keys before the first section are global. A key that
//     is only global (policy, ...) inside a section is an error, so is a guest-only key (image,
//     param) above the first section. A key set twice in one section is an error.
// Values:
//   - numbers: decimal digits, optional '_' between digits (1_000_000); no sign, no hex, no
//     fraction;
//   - booleans: 0/1, true/false, yes/no, on/off (words in any case);
//   - enums: the words listed below (any case);
//   - image: a built-in workload name (exact, lower case), or a path on the ESP that starts with
//     '\' (e.g. \guests\a.elf): printable ASCII, at most 127 characters, naming a file.
//
// Keys (G = global, S = per guest section; a key marked G+S is a global default that a guest may
// override):
//   duration_ms   G    1..3600000               default 1000
//   slice_us      G+S  10..1000000              default 1000
//   policy        G    fixed | shared | capped  default fixed
//   yield_on_hlt  G+S  boolean                  default 0
//   on_guest_exit G    reserve | reclaim        default reserve under fixed, reclaim under shared
//                                               and capped (unless set)
//   on_finish     G    return_to_firmware | shutdown   default return_to_firmware
//   tick_hz       G+S  0..10000 (0 = no tick)   default 0; the `idle` workload needs tick_hz > 0
//   memory_mib    G+S  1..256                   default 2
//   period_us     G+S  10..10000000             default 100000 (used under capped only)
//   tsc_hz        G    0 (calibrate) or 1000000..100000000000   default 0
//   image         S    required
//   cap_percent   G+S  1..100                   default 100 (used under capped only)
//   param         S    0..2^64-1                default 0 (passed to the guest at entry)
//   debug_break   G    none | start | vmentry   default none: breakpoints for the Bochs debugger
//                                               (vmx/hw/debug_break.hpp; tools/metronome debug)
//   debug_guest   G    a guest's NAME           default: the first guest entered (vmentry only)
//   test_corrupt_guest_state  S  boolean        default 0. TEST ONLY: writes an invalid guest
//                                               RFLAGS (bit 1 clear) into this guest's VMCS, so
//                                               its VM entry fails the guest-state checks (exit
//                                               reason 33); tests/e2e/images_test.py uses it.
//   test_fail_vmxon  G  boolean                 default 0. TEST ONLY: gives VMXON a VMXON region
//                                               with a wrong revision identifier, so VMXON
//                                               itself fails (VMfailInvalid); tests/e2e checks
//                                               that the machine is left as the firmware gave it.
// Rules checked by finalize_config:
//   - at least one guest; every guest has an image;
//   - a guest running `idle` has tick_hz > 0;
//   - under capped, each guest's slice_us <= its period_us (a budget is cut into slices);
//   - duration_ms is at least one slice of every guest;
//   - debug_guest names a guest of the file and comes with debug_break = vmentry.
// An error from one of these rules points at the most specific value that was set explicitly
// (the guest's own, then the global one; from the file or the load options), else at the guest's
// [guest NAME] line. Deliberately allowed: under capped the caps of all guests may sum to more
// than 100 (each guest is held to its own cap; together they may ask for more than the CPU has);
// cap_percent and period_us are accepted and ignored under fixed and shared, so one file can be
// run under every policy.
//
// Load options: words separated by blanks (space, tab, CR, LF); a NUL ends them. Each word is
// `key=value` with no spaces around '=': a global key, or `guest.NAME.key=value` for a guest key
// of a guest the file defines. Later words win. The first word is skipped when it has no '=' (the
// UEFI shell puts the program name there); `config=PATH` is reserved for the shell (see
// find_load_option) and skipped. Errors name "load options" and the 1-based word number in
// place of the line.
//
// Files: config.cpp (defaults, finalize_config, printers), config_parse.cpp (the file),
// config_options.cpp (load options), config_values.cpp with the internal config_syntax.hpp (key
// table, value parsing, error text).
#pragma once
#include "guest/runtime/abi.hpp"
#include "vmx/lib/guest_limit.hpp" // max_guests
#include "vmx/sched/policy.hpp"
#include <cstddef>
#include <cstdint>

namespace vmx {

class Text;

enum class OnFinish : std::uint8_t { return_to_firmware, shutdown };
// Bochs magic breakpoints (`xchg bx, bx`): `start` right after the configuration is read,
// `vmentry` that one plus one before the first VM entry of debug_guest (vmx/hw/debug_break.hpp).
enum class DebugBreak : std::uint8_t { none, start, vmentry };

inline constexpr std::size_t max_line_length = 256;
inline constexpr std::size_t max_name_length = 31;
inline constexpr std::size_t max_image_length = 127;

// The built-in workload names come from the guest ABI header, their one definition.
using metronome::abi::builtin_workloads;
using metronome::abi::builtin_workload_count;
bool is_builtin_workload(const char* name);

// Every key, global or per guest; `config_key_name` gives its spelling in the file.
enum class ConfigKey : std::uint8_t {
    duration_ms,
    slice_us,
    policy,
    yield_on_hlt,
    on_guest_exit,
    on_finish,
    tick_hz,
    memory_mib,
    period_us,
    tsc_hz,
    image,
    cap_percent,
    param,
    debug_break,
    debug_guest,
    test_corrupt_guest_state,
    test_fail_vmxon,
};
inline constexpr unsigned config_key_count = 17;
const char* config_key_name(ConfigKey key);

// Where a value came from. `none` means the default (or, for a guest, the inherited global).
enum class ConfigSource : std::uint8_t { none, file, load_options };
struct ValueOrigin {
    ConfigSource source = ConfigSource::none;
    std::uint32_t line = 0; // file line, or load-option word number
};

struct GuestConfig {
    char name[max_name_length + 1];   // [A-Za-z0-9_-], 1..31 characters, unique
    char image[max_image_length + 1]; // built-in workload name or \path
    bool image_is_builtin;
    std::uint32_t slice_us;
    bool yield_on_hlt;
    std::uint32_t tick_hz;
    std::uint32_t memory_mib;
    std::uint32_t cap_percent;
    std::uint32_t period_us;
    std::uint64_t param;
    bool test_corrupt_guest_state; // test only: see the key list above
    ValueOrigin section;                  // the line of the [guest NAME] header
    ValueOrigin origin[config_key_count]; // set explicitly iff source != none
    bool is_set(ConfigKey k) const {
        return origin[static_cast<unsigned>(k)].source != ConfigSource::none;
    }
};

struct Config {
    std::uint32_t duration_ms = 1000;
    std::uint32_t slice_us = 1000;
    Policy policy = Policy::fixed;
    bool yield_on_hlt = false;
    OnGuestExit on_guest_exit = OnGuestExit::reserve;
    OnFinish on_finish = OnFinish::return_to_firmware;
    std::uint32_t tick_hz = 0;
    std::uint32_t memory_mib = 2;
    std::uint32_t period_us = 100000;
    std::uint32_t cap_percent = 100;
    std::uint64_t tsc_hz = 0; // 64 bits: TSCs above 4.29 GHz exist
    DebugBreak debug_break = DebugBreak::none;
    char debug_guest[max_name_length + 1] = {}; // "" = the first guest entered
    bool test_fail_vmxon = false;               // test only: see the key list above
    GuestConfig guests[max_guests] = {};
    unsigned guest_count = 0;
    ValueOrigin origin[config_key_count] = {}; // global keys set explicitly
    bool finalized = false;
    bool is_set(ConfigKey k) const {
        return origin[static_cast<unsigned>(k)].source != ConfigSource::none;
    }
};

struct ConfigResult {
    bool ok = true;
    ConfigSource source = ConfigSource::none; // where `line` points; none: no line
    unsigned line = 0;                        // file line or load-option word, 1-based; 0 = none
    char key[32] = {};                        // the key concerned, "" when none
    char message[256] = {};                   // everything after "source:line: "
};

// Resets `out` to the defaults with no guests.
void reset_config(Config& out);
// Resets `out`, then reads the file text. Does not finalize.
ConfigResult parse_config(const char* text, std::size_t len, Config& out);
// Applies load options to a parsed Config (guest.NAME.key needs NAME from the file).
ConfigResult apply_load_options(Config& cfg, const char* options, std::size_t len);
// Fills inherited values and checks the rules that span keys; sets `finalized` on success.
ConfigResult finalize_config(Config& cfg);
// parse_config, apply_load_options (options may be null with olen 0), finalize_config.
ConfigResult load_config(const char* text, std::size_t len, const char* options, std::size_t olen,
                         Config& out);

// Finds `key=VALUE` among the load options (last one wins) and copies VALUE into out
// (NUL-terminated). too_long: present but VALUE needs more than cap-1 bytes (out gets "").
enum class OptionLookup : std::uint8_t { absent, found, too_long };
OptionLookup find_load_option(const char* options, std::size_t len, const char* key, char* out,
                              std::size_t cap);

const GuestConfig* find_guest(const Config& cfg, const char* name);

const char* on_finish_name(OnFinish f);
const char* debug_break_name(DebugBreak b);

// One line, no newline: "SOURCE:LINE: MESSAGE", or "SOURCE: MESSAGE" when there is no line.
// SOURCE is "load options" for load-option errors, else source_name (e.g. "metronome.cfg").
void format_config_error(const ConfigResult& result, const char* source_name, Text& out);
// The effective configuration as one JSON object (no newline), for the report:
// {"duration_ms":..,"slice_us":..,"policy":"fixed","yield_on_hlt":false,"on_guest_exit":"..",
//  "on_finish":"..","tick_hz":..,"memory_mib":..,"period_us":..,"tsc_hz":..,
//  "guests":[{"name":"a","image":"spin","builtin":true,"slice_us":..,"yield_on_hlt":..,
//             "tick_hz":..,"memory_mib":..,"cap_percent":..,"period_us":..,"param":..},..]}
void format_config(const Config& cfg, Text& out);

} // namespace vmx
