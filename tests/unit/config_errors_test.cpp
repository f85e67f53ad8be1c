// Configuration mistakes: each gives one error line naming the line (or load-option word) and
// the key; hostile input ends in an error, never in a crash.
#include "vmx/config/config.hpp"
#include "vmx/lib/text.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

vmx::Config g_cfg; // large (64 guests): static, as on the target
vmx::ConfigResult g_last;

std::string format(const vmx::ConfigResult& r) {
    vmx::FixedText<512> t;
    vmx::format_config_error(r, "metronome.cfg", t);
    return t.c_str();
}

// The error line that loading `text` with `options` gives ("" when it loads).
std::string err(const std::string& text, const std::string& options = "") {
    g_last = vmx::load_config(text.data(), text.size(), options.data(), options.size(), g_cfg);
    if (g_last.ok) return "";
    const std::string line = format(g_last);
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\r') == std::string::npos);
    return line;
}

std::string key() {
    return g_last.key;
}

constexpr const char* a_guest = "[guest a]\nimage = spin\n";

std::uint32_t g_seed = 1;
std::uint8_t random_byte() {
    g_seed = g_seed * 1664525u + 1013904223u;
    return static_cast<std::uint8_t>(g_seed >> 24);
}

} // namespace

TEST_CASE("config errors: a value that is not a whole number") {
    CHECK(err("duration_ms = 1000\n\n\n\n\n\nslice_us = 10x\n") ==
          "metronome.cfg:7: key 'slice_us': '10x' is not a whole number");
    CHECK(key() == "slice_us");
    CHECK(err("slice_us = -5\n") ==
          "metronome.cfg:1: key 'slice_us': '-5' is not a whole number (no sign allowed)");
    CHECK(err("slice_us = 0x10\n") ==
          "metronome.cfg:1: key 'slice_us': '0x10' is not a whole number (decimal digits only)");
    CHECK(err("slice_us = 1.5\n").find("'1.5' is not a whole number") != std::string::npos);
    CHECK(err("slice_us = 1__000\n").find("is not a whole number") != std::string::npos);
    CHECK(err("slice_us = 1000_\n").find("is not a whole number") != std::string::npos);
    CHECK(err("slice_us = 10 00\n").find("'10 00' is not a whole number") != std::string::npos);
}

TEST_CASE("config errors: an unknown key, with a suggestion when one is close") {
    CHECK(err("# comment\n\nslcie_us = 10\n") ==
          "metronome.cfg:3: unknown key 'slcie_us' (did you mean 'slice_us'?)");
    CHECK(key() == "slcie_us");
    CHECK(err("Policy = fixed\n") ==
          "metronome.cfg:1: unknown key 'Policy' (did you mean 'policy'?)");
    CHECK(err("[guest a]\nimgae = spin\n") ==
          "metronome.cfg:2: unknown key 'imgae' (did you mean 'image'?)");
    CHECK(err("[guest a]\nfrobnicate = 1\n") ==
          "metronome.cfg:2: unknown key 'frobnicate' (keys here: image, kernel, initrd, cmdline, "
          "param, slice_us, yield_on_hlt, tick_hz, memory_mib, period_us, tsc, cap_percent, cpu)");
    CHECK(err("zzz = 1\n").find("(keys here: duration_ms, measure_ms, slice_us, policy,") != std::string::npos);
}

TEST_CASE("config errors: an enum value that is not one of the words") {
    CHECK(err("\n\n\n\n\n\n\n\npolicy = fair\n") ==
          "metronome.cfg:9: key 'policy': 'fair' is not one of fixed, shared, capped");
    CHECK(key() == "policy");
    CHECK(err("on_guest_exit = keep\n") ==
          "metronome.cfg:1: key 'on_guest_exit': 'keep' is not one of reserve, reclaim");
    CHECK(err("on_finish = reboot\n") == "metronome.cfg:1: key 'on_finish': 'reboot' is not one "
                                         "of return_to_firmware, shutdown");
    CHECK(err("yield_on_hlt = maybe\n") == "metronome.cfg:1: key 'yield_on_hlt': 'maybe' is not "
                                           "one of 0, 1, false, true, no, yes, off, on");
}

TEST_CASE("config errors: a guest defined twice") {
    CHECK(err("\n\n\n[guest a]\nimage=spin\n[guest b]\nimage=spin\n\n\n\n\n[guest a]\n") ==
          "metronome.cfg:12: [guest a] is defined twice (first on line 4)");
    CHECK(key().empty());
}

TEST_CASE("config errors: no guests") {
    CHECK(err("slice_us = 1000\n") ==
          "metronome.cfg: no guests: add at least one [guest NAME] section with an image");
    CHECK(err("") ==
          "metronome.cfg: no guests: add at least one [guest NAME] section with an image");
    g_last = vmx::load_config(nullptr, 0, nullptr, 0, g_cfg);
    CHECK_FALSE(g_last.ok);
    CHECK(g_last.line == 0);
}

TEST_CASE("config errors: a value out of range names the range") {
    CHECK(err("slice_us = 5\n") == "metronome.cfg:1: key 'slice_us': '5' is out of range "
                                   "10..1000000");
    CHECK(err("duration_ms = 0\n") ==
          "metronome.cfg:1: key 'duration_ms': '0' is out of range 1..3600000");
    CHECK(err("memory_mib = 2049\n").find("'2049' is out of range 1..2048") != std::string::npos);
    // Above 256 only for a kernel: the rule needs the whole guest, so finalize_config checks it.
    CHECK(err(std::string("memory_mib = 257\n") + a_guest) ==
          "metronome.cfg:1: [guest a]: memory_mib 257 is out of range 1..256 for a guest that runs "
          "an image (a kernel guest may have up to 2048)");
    CHECK(err("tick_hz = 10001\n").find("out of range 0..10000") != std::string::npos);
    CHECK(err("period_us = 9\n").find("out of range 10..10000000") != std::string::npos);
    CHECK(err("cpu = 64\n").find("'64' is out of range 0..63") != std::string::npos); // vmx::max_cpus
    CHECK(err("tsc_hz = 999\n") ==
          "metronome.cfg:1: key 'tsc_hz': '999' is out of range (0 or 1000000..100000000000)");
    CHECK(err("[guest a]\ncap_percent = 101\n").find("'101' is out of range 1..100") !=
          std::string::npos);
    CHECK(err("[guest a]\ncap_percent = 0\n").find("'0' is out of range 1..100") !=
          std::string::npos);
    CHECK(err("[guest a]\nparam = 18446744073709551616\n") ==
          "metronome.cfg:2: key 'param': '18446744073709551616' is out of range "
          "0..18446744073709551615");
    CHECK(err("slice_us = 99999999999999999999999999\n").find("is out of range") !=
          std::string::npos);
}

TEST_CASE("config errors: a line that is too long") {
    const std::string long_comment = "# " + std::string(4095, 'x') + "\n";
    CHECK(err("slice_us = 10\n" + long_comment) ==
          "metronome.cfg:2: line is too long (4097 bytes, at most 4096)");
    // 4096 bytes exactly (not counting CRLF) is fine: room for a 2047-byte cmdline.
    const std::string fits = "#" + std::string(vmx::max_line_length - 1, 'y') + "\r\n";
    CHECK(err(fits + a_guest).empty());
}

TEST_CASE("config errors: a line without '=' and a key without a name") {
    CHECK(err("slice_us 1000\n") ==
          "metronome.cfg:1: 'slice_us 1000' is not 'key = value' (missing '=')");
    CHECK(err("\n = 5\n") == "metronome.cfg:2: missing key before '='");
}

TEST_CASE("config errors: an empty value") {
    CHECK(err("slice_us =   # nothing\n") == "metronome.cfg:1: key 'slice_us': empty value");
    CHECK(key() == "slice_us");
    CHECK(err("[guest a]\nimage =\n") == "metronome.cfg:2: key 'image': empty value");
}

TEST_CASE("config errors: a guest without an image points at its section header") {
    CHECK(err(std::string(a_guest) + "\n[guest b]\nslice_us = 100\n") ==
          "metronome.cfg:4: [guest b] has no image: add 'image = NAME' with a built-in workload "
          "or a path starting with '\\', or 'kernel = PATH' for a Linux kernel");
    CHECK(key() == "image");
}

TEST_CASE("config errors: 257 guests are refused, naming the 257th") {
    std::string text;
    for (unsigned i = 0; i <= vmx::max_guests; ++i) {
        text += "[guest g" + std::to_string(i) + "]\nimage = spin\n";
    }
    static_assert(vmx::max_guests == 256);
    CHECK(err(text) == "metronome.cfg:513: too many guests (at most 256)");
    // The line is always the 257th guest's [guest NAME] header, whatever surrounds it.
    std::string spaced;
    for (unsigned i = 0; i <= vmx::max_guests; ++i) {
        spaced += "\n# guest " + std::to_string(i) + "\n[guest g" + std::to_string(i) + "]  # a guest\r\n\nimage = spin\n";
    }
    CHECK(err(spaced) == "metronome.cfg:" + std::to_string(5 * vmx::max_guests + 3) +
                             ": too many guests (at most " + std::to_string(vmx::max_guests) + ")");
}

TEST_CASE("config errors: guest names and section headers") {
    CHECK(err("[guest a b]\n") ==
          "metronome.cfg:1: guest name 'a b' may only contain letters, digits, '_' and '-'");
    CHECK(err("[guest a.b]\n").find("'a.b' may only contain") != std::string::npos);
    CHECK(err("[guest \xc3\xa9]\n").find("'\\xc3\\xa9' may only contain") != std::string::npos);
    CHECK(
        err("[guest " + std::string(32, 'n') + "]\n").find("is too long (at most 31 characters)") !=
        std::string::npos);
    CHECK(err("[guest]\n") == "metronome.cfg:1: [guest] needs a name: [guest NAME]");
    CHECK(err("[guest  ]\n") == "metronome.cfg:1: [guest] needs a name: [guest NAME]");
    CHECK(err("[vm a]\n") ==
          "metronome.cfg:1: unknown section '[vm a]': the only section is [guest NAME]");
    CHECK(err("[guesta]\n").find("unknown section '[guesta]'") != std::string::npos);
    CHECK(err("[guest a\n") == "metronome.cfg:1: missing ']' at the end of the section header");
    CHECK(err("[guest a] image = spin\n") == "metronome.cfg:1: unexpected text after ']'");
}

TEST_CASE("config errors: an image that is neither a built-in nor a path") {
    CHECK(err("[guest a]\nimage = spinner\n") ==
          "metronome.cfg:2: key 'image': 'spinner' is not a built-in workload (spin, idle, "
          "bursty, exitstorm, crash, powerdown, capacity, vmexit, escape, vmxprobe, privprobe, "
          "portsweep, clihlt, faultloop, leakprobe, storm, tfhlt) or a path starting with '\\'");
    CHECK(key() == "image");
    CHECK(err("[guest a]\nimage = /guests/a.elf\n").find("paths start with '\\'") !=
          std::string::npos);
    CHECK(err("[guest a]\nimage = \\\n") ==
          "metronome.cfg:2: key 'image': '\\' names a folder, not a file");
    CHECK(err("[guest a]\nimage = \\guests\\\n").find("names a folder") != std::string::npos);
    CHECK(err("[guest a]\nimage = \\" + std::string(127, 'p') + "\n") ==
          "metronome.cfg:2: key 'image': path is too long (128 characters, at most 127)");
    CHECK(err("[guest a]\nimage = \\caf\xc3\xa9.elf\n")
              .find("'\\caf\\xc3\\xa9.elf' is not a printable ASCII path") != std::string::npos);
}

TEST_CASE("config errors: a global key inside a guest section and the other way round") {
    CHECK(err("[guest a]\nimage = spin\npolicy = shared\n") ==
          "metronome.cfg:3: key 'policy' is global, move it above the first [guest] section");
    CHECK(key() == "policy");
    CHECK(err("image = spin\n") ==
          "metronome.cfg:1: key 'image' belongs in a [guest NAME] section");
    CHECK(err("param = 5\n").find("key 'param' belongs in a [guest NAME]") != std::string::npos);
}

TEST_CASE("config errors: a key set twice in one section") {
    CHECK(err("slice_us = 10\n\nslice_us = 20\n") ==
          "metronome.cfg:3: key 'slice_us' is set twice (first on line 1)");
    CHECK(err("slice_us = 10\n[guest a]\nimage=spin\nimage = idle\n") ==
          "metronome.cfg:4: key 'image' is set twice (first on line 3)");
    // The same key globally and in a section is an override, not a repeat.
    CHECK(err("slice_us = 10\n[guest a]\nimage=spin\nslice_us = 20\n").empty());
}

TEST_CASE("config errors: under capped a slice longer than the period") {
    CHECK(err("policy = capped\n[guest a]\nimage = spin\nslice_us = 2000\nperiod_us = 1000\n") ==
          "metronome.cfg:4: [guest a]: slice_us 2000 is longer than period_us 1000 (under "
          "policy capped a slice must fit in a period)");
    CHECK(key() == "slice_us");
    // Inherited values point at the global line that set them.
    CHECK(err("policy = capped\nslice_us = 200000\n[guest a]\nimage = spin\n")
              .rfind("metronome.cfg:2: [guest a]: slice_us 200000 is longer than period_us "
                     "100000",
                     0) == 0);
    // The same file is fine under fixed, and fails when capped comes from the load options.
    const std::string file = "slice_us = 200000\n[guest a]\nimage = spin\n";
    CHECK(err(file).empty());
    CHECK(err(file, "policy=capped").rfind("metronome.cfg:1: [guest a]: slice_us 200000", 0) == 0);
    CHECK(err(file, "policy=capped slice_us=300000")
              .rfind("load options:2: [guest a]: slice_us 300000", 0) == 0);
}

TEST_CASE("config errors: a run shorter than one slice") {
    CHECK(err("duration_ms = 1\nslice_us = 2000\n[guest a]\nimage = spin\n") ==
          "metronome.cfg:1: duration_ms 1 is shorter than one slice of [guest a] (slice_us 2000)");
    CHECK(key() == "duration_ms");
    CHECK(err("duration_ms = 1\n[guest a]\nimage = spin\nslice_us = 1000\n").empty());
    CHECK(err("[guest a]\nimage = spin\nslice_us = 1000000\n").empty()); // 1000 ms: one slice
    CHECK(err("[guest a]\nimage = spin\nslice_us = 1000000\n", "duration_ms=999") ==
          "load options:1: duration_ms 999 is shorter than one slice of [guest a] (slice_us "
          "1000000)");
}

TEST_CASE("config errors: the idle workload needs a tick") {
    CHECK(err("[guest sleepy]\nimage = idle\n") ==
          "metronome.cfg:1: [guest sleepy]: the idle workload needs tick_hz > 0");
    CHECK(key() == "tick_hz");
    CHECK(err("tick_hz = 100\n[guest sleepy]\nimage = idle\n").empty());
    CHECK(err("[guest sleepy]\nimage = idle\n", "tick_hz=50").empty());
    CHECK(err("tick_hz = 100\n[guest sleepy]\nimage = idle\n", "x.efi guest.sleepy.tick_hz=0") ==
          "load options:2: [guest sleepy]: the idle workload needs tick_hz > 0");
}

TEST_CASE("config errors: load options name the word and the key") {
    CHECK(err(a_guest, "slice_us=1000 slcie_us=5") ==
          "load options:2: unknown key 'slcie_us' (did you mean 'slice_us'?)");
    CHECK(key() == "slcie_us");
    CHECK(err(a_guest, "metronome.efi policy=fair") ==
          "load options:2: key 'policy': 'fair' is not one of fixed, shared, capped");
    CHECK(err(a_guest, "slice_us=1 ") ==
          "load options:1: key 'slice_us': '1' is out of range 10..1000000");
    CHECK(err(a_guest, "slice_us=") == "load options:1: key 'slice_us': empty value");
    CHECK(err(a_guest, "policy=shared fast") == "load options:2: 'fast' is not key=value");
    CHECK(err(a_guest, "=3") == "load options:1: missing key before '='");
    CHECK(err(a_guest, "image=spin") ==
          "load options:1: key 'image' is a guest key: write guest.NAME.image=VALUE");
}

TEST_CASE("config errors: guest.NAME.key load options") {
    CHECK(err(a_guest, "guest.b.slice_us=100") ==
          "load options:1: no guest named 'b' in the configuration file");
    CHECK(err(a_guest, "guest.a.policy=shared") ==
          "load options:1: key 'policy' is global: write policy=VALUE, not guest.NAME.policy");
    CHECK(err(a_guest, "guest.a.imgae=idle") ==
          "load options:1: unknown key 'imgae' (did you mean 'image'?)");
    CHECK(err(a_guest, "guest.a.image=bogus")
              .rfind("load options:1: key 'image': 'bogus' is "
                     "not a built-in workload",
                     0) == 0);
    CHECK(err(a_guest, "guest.a=1") == "load options:1: 'guest.a' is not guest.NAME.key");
    CHECK(err(a_guest, "guest..slice_us=1") ==
          "load options:1: 'guest..slice_us' is not guest.NAME.key");
    CHECK(err(a_guest, "guest.a.=1") == "load options:1: 'guest.a.' is not guest.NAME.key");
    CHECK(err(a_guest, "guest.a.param=") == "load options:1: key 'param': empty value");
}

TEST_CASE("config errors: control characters, NUL bytes and stray carriage returns") {
    CHECK(err(std::string("slice_us = 10\0\n", 15)) ==
          "metronome.cfg:1: control character 0x00 in column 14 (only tab is allowed)");
    CHECK(err(std::string("# ok\n#\x01\n")) ==
          "metronome.cfg:2: control character 0x01 in column 2 (only tab is allowed)");
    CHECK(err("slice_us = 10\rpolicy = fixed\n") ==
          "metronome.cfg:1: stray carriage return (lines end in LF or CRLF)");
    CHECK(err("a = 1\x7f\n").find("control character 0x7f") != std::string::npos);
}

TEST_CASE("config errors: user text is quoted safely and cut") {
    const std::string long_key(50, 'k');
    const std::string line = err(long_key + " = 1\n");
    CHECK(line == "metronome.cfg:1: unknown key '" + std::string(40, 'k') +
                      "...' (keys here: duration_ms, measure_ms, slice_us, policy, yield_on_hlt, "
                      "on_guest_exit, on_finish, tick_hz, memory_mib, period_us, tsc_hz, tsc, cap_percent, cpu, "
                      "debug_break, debug_guest, console_input)");
    CHECK(key() == std::string(31, 'k')); // the key field is cut to fit
    CHECK(err("sl\xffice_us = 1\n").find("'sl\\xffice_us'") != std::string::npos);
    CHECK(key() == "sl?ice_us");
}

TEST_CASE("config errors: format_config_error without a source name or an error") {
    vmx::ConfigResult ok;
    vmx::FixedText<64> t;
    vmx::format_config_error(ok, "metronome.cfg", t);
    CHECK(std::string(t.c_str()) == "metronome.cfg: ok");
    g_last = vmx::load_config("x", 1, nullptr, 0, g_cfg);
    t.clear();
    vmx::format_config_error(g_last, nullptr, t);
    CHECK(std::string(t.c_str()).rfind("configuration:1: 'x' is not", 0) == 0);
    // A short buffer cuts the line; it never overflows.
    vmx::FixedText<16> small;
    vmx::format_config_error(g_last, "metronome.cfg", small);
    CHECK(small.truncated());
    CHECK(small.size() == 15);
}

TEST_CASE("config errors: random bytes end in one error line, never a crash") {
    std::vector<char> buf;
    for (unsigned round = 0; round < 2000; ++round) {
        g_seed = round * 2654435761u + 1;
        buf.resize(random_byte() * 4u);
        for (char& c : buf) {
            const std::uint8_t b = random_byte();
            // Mostly printable text with structure characters, sometimes raw bytes.
            static constexpr char alphabet[] = "[]=#\n\r\t _.\\guestimagspn01";
            c = (b & 0x80) != 0 ? static_cast<char>(b) : alphabet[b % (sizeof alphabet - 1)];
        }
        const vmx::ConfigResult r =
            vmx::load_config(buf.data(), buf.size(), buf.data(), buf.size(), g_cfg);
        if (!r.ok) {
            const std::string line = format(r);
            REQUIRE(line.find('\n') == std::string::npos);
            REQUIRE(line.size() < 400);
        }
        REQUIRE(g_cfg.guest_count <= vmx::max_guests);
    }
}

TEST_CASE("config errors: a megabyte of garbage, a 64 KiB line and a file of NULs") {
    std::vector<char> garbage(1 << 20);
    g_seed = 7;
    for (char& c : garbage)
        c = static_cast<char>(random_byte());
    g_last = vmx::load_config(garbage.data(), garbage.size(), nullptr, 0, g_cfg);
    CHECK_FALSE(g_last.ok);
    CHECK(g_last.line >= 1);

    const std::string long_line = "slice_us = " + std::string(64 * 1024, '9');
    CHECK(err(long_line) == "metronome.cfg:1: line is too long (65547 bytes, at most 4096)");

    const std::string nuls(8192, '\0');
    CHECK(err(nuls) == "metronome.cfg:1: line is too long (8192 bytes, at most 4096)");
    CHECK(err(nuls.substr(0, 200)) ==
          "metronome.cfg:1: control character 0x00 in column 1 (only tab is allowed)");

    // A megabyte of blank lines is read to the end (no guests), counting lines.
    const std::string blank(1 << 20, '\n');
    CHECK(err(blank) ==
          "metronome.cfg: no guests: add at least one [guest NAME] section with an image");
    CHECK(err(blank + "x\n") == "metronome.cfg:1048577: 'x' is not 'key = value' (missing '=')");

    // Garbage load options after a good file (a NUL may end them early).
    for (char& c : garbage)
        c = c == '\0' ? '=' : c;
    g_last = vmx::load_config(a_guest, std::strlen(a_guest), garbage.data(), garbage.size(), g_cfg);
    CHECK_FALSE(g_last.ok);
    CHECK(g_last.source == vmx::ConfigSource::load_options);
}
