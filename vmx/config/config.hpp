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
//   - `#` starts a comment anywhere, to the end of the line (so no value can contain '#');
//   - `key = value`, spaces and tabs around both optional; no quotes, no escapes: the value is
//     everything after the first '=', trimmed, so it may contain '=' and blanks (cmdline);
//   - `[guest NAME]` starts a guest section; keys before the first section are global. A key that
//     is only global (policy, ...) inside a section is an error, so is a guest-only key (image,
//     param) above the first section. A key set twice in one section is an error.
// Values:
//   - numbers: decimal digits, optional '_' between digits (1_000_000); no sign, no hex, no
//     fraction;
//   - booleans: 0/1, true/false, yes/no, on/off (words in any case);
//   - enums: the words of the kind (any case);
//   - image: a built-in workload name (exact, lower case), or a path on the ESP;
//   - paths (image, kernel, initrd): start with '\' (e.g. \guests\a.elf), printable ASCII, at
//     most `max_path_length` characters, naming a file;
//   - cmdline: printable ASCII, at most `max_cmdline_length` bytes, kept byte for byte (Linux
//     parses its own quotes). A load option's value ends at the first blank, so a command line
//     with spaces can only come from the file.
//
// Keys: vmx/config/config_keys.hpp lists every key with its kind, scope, range, default and
// meaning (and the README's table is generated from it).
// Rules checked by finalize_config:
//   - at least one guest; every guest has an image or a kernel, not both;
//   - initrd and cmdline only for a guest with a kernel;
//   - memory_mib at most `max_image_memory_mib` for a guest that runs an image (a kernel guest
//     may have up to the key's maximum);
//   - a guest running `idle` has tick_hz > 0;
//   - under capped, each guest's slice_us <= its period_us (a budget is cut into slices);
//   - duration_ms is at least one slice of every guest;
//   - debug_guest names a guest of the file and comes with debug_break = vmentry;
//   - console_input names a guest of the file that runs a kernel.
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
// Files: config_keys.hpp (the key list), config.cpp (defaults, finalize_config, the error
// line), config_json.cpp (the JSON), config_parse.cpp (the file), config_options.cpp (load
// options), config_values.cpp (reading values) and config_errors.cpp (key lookup, error text)
// with the internal config_syntax.hpp, config_doc.cpp (the README's key table).
#pragma once
#include "guest/runtime/abi.hpp"
#include "vmx/config/config_keys.hpp"
#include "vmx/lib/cpu_limit.hpp"   // max_cpus
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
// What a guest's TSC counts: `wall` the host's TSC (it advances while the guest is descheduled
// too), `own` only the time the guest ran (TSC offsetting).
enum class TscMode : std::uint8_t { wall, own };

// The longest line: `cmdline = ` with a command line of max_cmdline_length bytes and a comment.
inline constexpr std::size_t max_line_length = 4096;
inline constexpr std::size_t max_name_length = 31;
// Paths on the ESP (image, kernel, initrd).
inline constexpr std::size_t max_path_length = 127;
inline constexpr std::size_t max_image_length = max_path_length;
// Linux's x86 COMMAND_LINE_SIZE is 2048 with the terminating NUL.
inline constexpr std::size_t max_cmdline_length = 2047;
// Every guest's command line lives in one pool of the Config (NUL-terminated), so a guest
// without one costs nothing: room for 16 of the longest or 256 of 127 bytes.
inline constexpr std::size_t cmdline_pool_size = 32 * 1024;
// Guests that run an image (built-in or ELF): the memory they may have. Kernel guests may have up
// to memory_mib's maximum (vmx/config/config_keys.hpp).
inline constexpr std::uint32_t max_image_memory_mib = 256;

// The built-in workload names come from the guest ABI header, their one definition.
using metronome::abi::builtin_workloads;
using metronome::abi::builtin_workload_count;
bool is_builtin_workload(const char* name);

// A command line in the Config's pool: config_text() gives it as a C string ("" when unset).
struct ConfigText {
    std::uint16_t offset = 0;
    std::uint16_t length = 0; // 0: unset
};

// What a key's value is: its field's type and how the parser reads it
// (vmx/config/config_values.cpp).
enum class ConfigKind : std::uint8_t {
    uint32,      // a number in min..max
    uint64,      // a number in min..max, 64 bits
    uint64_or_0, // 0, or a number in min..max
    boolean,
    policy,
    on_guest_exit,
    on_finish,
    debug_break,
    tsc_mode,
    image,      // a built-in workload name or a path
    path,       // a path on the ESP
    cmdline,    // text for the guest's kernel
    guest_name, // the NAME of a [guest NAME] section
};

template <ConfigKind K> struct ConfigStorage;
template <> struct ConfigStorage<ConfigKind::uint32> { using type = std::uint32_t; };
template <> struct ConfigStorage<ConfigKind::uint64> { using type = std::uint64_t; };
template <> struct ConfigStorage<ConfigKind::uint64_or_0> { using type = std::uint64_t; };
template <> struct ConfigStorage<ConfigKind::boolean> { using type = bool; };
template <> struct ConfigStorage<ConfigKind::policy> { using type = Policy; };
template <> struct ConfigStorage<ConfigKind::on_guest_exit> { using type = OnGuestExit; };
template <> struct ConfigStorage<ConfigKind::on_finish> { using type = OnFinish; };
template <> struct ConfigStorage<ConfigKind::debug_break> { using type = DebugBreak; };
template <> struct ConfigStorage<ConfigKind::tsc_mode> { using type = TscMode; };
template <> struct ConfigStorage<ConfigKind::image> { using type = char[max_path_length + 1]; };
template <> struct ConfigStorage<ConfigKind::path> { using type = char[max_path_length + 1]; };
template <> struct ConfigStorage<ConfigKind::cmdline> { using type = ConfigText; };
template <> struct ConfigStorage<ConfigKind::guest_name> { using type = char[max_name_length + 1]; };
template <ConfigKind K> using config_value_t = typename ConfigStorage<K>::type;

// Every key, global or per guest, in the list's order; `config_key_name` gives its spelling.
enum class ConfigKey : std::uint8_t {
#define METRONOME_CONFIG_KEY_ENUMERATOR(key, ...) key,
    METRONOME_CONFIG_KEYS(METRONOME_CONFIG_KEY_ENUMERATOR)
#undef METRONOME_CONFIG_KEY_ENUMERATOR
};
#define METRONOME_CONFIG_KEY_ONE(...) +1
inline constexpr unsigned config_key_count = 0 METRONOME_CONFIG_KEYS(METRONOME_CONFIG_KEY_ONE);
#undef METRONOME_CONFIG_KEY_ONE
const char* config_key_name(ConfigKey key);

// Where a value came from. `none` means the default (or, for a guest, the inherited global).
enum class ConfigSource : std::uint8_t { none, file, load_options };
struct ValueOrigin {
    ConfigSource source = ConfigSource::none;
    std::uint32_t line = 0; // file line, or load-option word number
};

// Field declarations by scope: a `guest` key is a field of GuestConfig, a `global` key one of
// Config, a `both` key one of each (the guest's is the effective value after finalize_config).
#define METRONOME_CONFIG_IN_GUEST_global(...)
#define METRONOME_CONFIG_IN_GUEST_guest(...) __VA_ARGS__
#define METRONOME_CONFIG_IN_GUEST_both(...) __VA_ARGS__
#define METRONOME_CONFIG_IN_GLOBAL_global(...) __VA_ARGS__
#define METRONOME_CONFIG_IN_GLOBAL_guest(...)
#define METRONOME_CONFIG_IN_GLOBAL_both(...) __VA_ARGS__

struct GuestConfig {
    char name[max_name_length + 1]; // [A-Za-z0-9_-], 1..31 characters, unique
    // One field per key of scope guest or both, named and typed as config_keys.hpp says (e.g.
    // `char kernel[]`, `ConfigText cmdline` read through config_text(), `TscMode tsc`).
#define METRONOME_CONFIG_GUEST_FIELD(key, kind, scope, ...)                                         \
    METRONOME_CONFIG_IN_GUEST_##scope(config_value_t<ConfigKind::kind> key;)
    METRONOME_CONFIG_KEYS(METRONOME_CONFIG_GUEST_FIELD)
#undef METRONOME_CONFIG_GUEST_FIELD
    bool image_is_builtin;                // image names a built-in workload (not a path)
    ValueOrigin section;                  // the line of the [guest NAME] header
    ValueOrigin origin[config_key_count]; // set explicitly iff source != none
    bool is_set(ConfigKey k) const {
        return origin[static_cast<unsigned>(k)].source != ConfigSource::none;
    }
    bool runs_kernel() const { return kernel[0] != '\0'; }
};

struct Config {
    // One field per key of scope global or both, named and typed as config_keys.hpp says, holding
    // the key's default until it is set.
#define METRONOME_CONFIG_GLOBAL_FIELD(key, kind, scope, min, max, default_value, doc)              \
    METRONOME_CONFIG_IN_GLOBAL_##scope(config_value_t<ConfigKind::kind> key = default_value;)
    METRONOME_CONFIG_KEYS(METRONOME_CONFIG_GLOBAL_FIELD)
#undef METRONOME_CONFIG_GLOBAL_FIELD
    GuestConfig guests[max_guests] = {};
    unsigned guest_count = 0;
    ValueOrigin origin[config_key_count] = {}; // global keys set explicitly
    char cmdline_pool[cmdline_pool_size] = {}; // the guests' command lines, NUL-terminated
    std::size_t cmdline_pool_used = 0;
    bool finalized = false;
    bool is_set(ConfigKey k) const {
        return origin[static_cast<unsigned>(k)].source != ConfigSource::none;
    }
};

// A command line of `cfg` as a NUL-terminated string: "" when unset.
const char* config_text(const Config& cfg, ConfigText text);

struct ConfigResult {
    bool ok = true;
    ConfigSource source = ConfigSource::none; // where `line` points; none: no line
    unsigned line = 0;                        // file line or load-option word, 1-based; 0 = none
    char key[32] = {};                        // the key concerned, "" when none
    char message[320] = {};                   // everything after "source:line: "
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
const char* tsc_mode_name(TscMode m);

// One line, no newline: "SOURCE:LINE: MESSAGE", or "SOURCE: MESSAGE" when there is no line.
// SOURCE is "load options" for load-option errors, else source_name (e.g. "metronome.cfg").
void format_config_error(const ConfigResult& result, const char* source_name, Text& out);
// The effective configuration as one JSON object (no newline), for the report: the global keys
// in the list's order, then "guests":[{"name":..,KEYS},..] with each guest's keys; an image is
// followed by "builtin":true|false. Text keys that are empty and test_* keys that are off are
// left out: {"duration_ms":1000,"slice_us":1000,"policy":"fixed",..,"guests":[{"name":"a",
// "image":"spin","builtin":true,"param":0,"slice_us":1000,..},..]}
void format_config(const Config& cfg, Text& out);

} // namespace vmx
