// The configuration model: values, defaults, inheritance, load options and the JSON printer.
#include "vmx/config/config.hpp"
#include "vmx/lib/text.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace {

vmx::Config g_cfg; // large (64 guests): static, as on the target

std::string error_line(const vmx::ConfigResult& r) {
    vmx::FixedText<512> t;
    vmx::format_config_error(r, "metronome.cfg", t);
    return t.c_str();
}

// Parses, applies options, finalizes; fails the test with the error line when that fails.
const vmx::Config& load(const std::string& text, const std::string& options = "") {
    const vmx::ConfigResult r =
        vmx::load_config(text.data(), text.size(), options.data(), options.size(), g_cfg);
    INFO(error_line(r));
    REQUIRE(r.ok);
    REQUIRE(g_cfg.finalized);
    return g_cfg;
}

const vmx::GuestConfig& guest(const vmx::Config& cfg, const char* name) {
    const vmx::GuestConfig* g = vmx::find_guest(cfg, name);
    REQUIRE(g != nullptr);
    return *g;
}

std::string json(const vmx::Config& cfg) {
    static vmx::FixedText<131072> t; // 256 guests fit
    t.clear();
    vmx::format_config(cfg, t);
    REQUIRE_FALSE(t.truncated());
    return t.c_str();
}

constexpr const char* fixed_example = R"(duration_ms   = 1000
slice_us      = 1000
policy        = fixed      # fixed | shared | capped
yield_on_hlt  = 0
on_guest_exit = reserve    # reserve | reclaim

[guest a]
image = spin               # a built-in workload, or a path on the ESP
[guest idle]
image   = idle
tick_hz = 100
)";

} // namespace

TEST_CASE("config: a fixed-policy example parses to the values it states") {
    const vmx::Config& cfg = load(fixed_example);
    CHECK(cfg.duration_ms == 1000);
    CHECK(cfg.slice_us == 1000);
    CHECK(cfg.policy == vmx::Policy::fixed);
    CHECK_FALSE(cfg.yield_on_hlt);
    CHECK(cfg.on_guest_exit == vmx::OnGuestExit::reserve);
    CHECK(cfg.is_set(vmx::ConfigKey::on_guest_exit));
    REQUIRE(cfg.guest_count == 2);
    CHECK(std::strcmp(cfg.guests[0].name, "a") == 0);
    CHECK(std::strcmp(cfg.guests[0].image, "spin") == 0);
    CHECK(cfg.guests[0].image_is_builtin);
    CHECK(cfg.guests[0].tick_hz == 0);
    CHECK(std::strcmp(cfg.guests[1].name, "idle") == 0);
    CHECK(std::strcmp(cfg.guests[1].image, "idle") == 0);
    CHECK(cfg.guests[1].tick_hz == 100);
    CHECK(cfg.guests[1].section.line == 9);
    CHECK(cfg.guests[1].origin[static_cast<unsigned>(vmx::ConfigKey::tick_hz)].line == 11);
}

// The first code block of the README's "Configuration" section, as a user would copy it.
static std::string readme_configuration_example() {
    std::ifstream in(std::string(METRONOME_SOURCE_DIR) + "/README.md");
    std::stringstream all;
    all << in.rdbuf();
    const std::string text = all.str();
    const auto section = text.find("\n## Configuration\n");
    REQUIRE(section != std::string::npos);
    const auto open = text.find("```\n", section);
    REQUIRE(open != std::string::npos);
    const auto close = text.find("```", open + 4);
    REQUIRE(close != std::string::npos);
    return text.substr(open + 4, close - open - 4);
}

TEST_CASE("config: the README's configuration example parses to the values it states") {
    const vmx::Config& cfg = load(readme_configuration_example());
    CHECK(cfg.duration_ms == 1000);
    CHECK(cfg.slice_us == 1000);
    CHECK(cfg.policy == vmx::Policy::shared);
    CHECK(cfg.yield_on_hlt);
    CHECK(cfg.on_guest_exit == vmx::OnGuestExit::reclaim);
    CHECK(cfg.on_finish == vmx::OnFinish::shutdown);
    REQUIRE(cfg.guest_count == 2);
    CHECK(std::strcmp(guest(cfg, "a").image, "spin") == 0);
    const vmx::GuestConfig& idle = guest(cfg, "idle");
    CHECK(std::strcmp(idle.image, "idle") == 0);
    CHECK(idle.tick_hz == 100);
    CHECK(idle.memory_mib == 2);
    CHECK(idle.param == 0);
}

TEST_CASE("config: a minimal file gets every documented default") {
    const vmx::Config& cfg = load("[guest a]\nimage = spin\n");
    CHECK(cfg.duration_ms == 1000);
    CHECK(cfg.slice_us == 1000);
    CHECK(cfg.policy == vmx::Policy::fixed);
    CHECK_FALSE(cfg.yield_on_hlt);
    CHECK(cfg.on_guest_exit == vmx::OnGuestExit::reserve);
    CHECK(cfg.on_finish == vmx::OnFinish::return_to_firmware);
    CHECK(cfg.tick_hz == 0);
    CHECK(cfg.memory_mib == 2);
    CHECK(cfg.period_us == 100000);
    CHECK(cfg.tsc_hz == 0);
    const vmx::GuestConfig& g = guest(cfg, "a");
    CHECK(g.slice_us == 1000);
    CHECK_FALSE(g.yield_on_hlt);
    CHECK(g.tick_hz == 0);
    CHECK(g.memory_mib == 2);
    CHECK(g.cap_percent == 100);
    CHECK(g.period_us == 100000);
    CHECK(g.param == 0);
    CHECK_FALSE(g.is_set(vmx::ConfigKey::slice_us));
    CHECK(g.is_set(vmx::ConfigKey::image));
}

TEST_CASE("config: global values flow into guests that do not set the key") {
    const vmx::Config& cfg = load("slice_us = 2500\nyield_on_hlt = yes\ntick_hz = 250\n"
                                  "memory_mib = 16\nperiod_us = 50000\n"
                                  "[guest a]\nimage = spin\n[guest b]\nimage = bursty\n");
    for (const char* name : {"a", "b"}) {
        const vmx::GuestConfig& g = guest(cfg, name);
        CHECK(g.slice_us == 2500);
        CHECK(g.yield_on_hlt);
        CHECK(g.tick_hz == 250);
        CHECK(g.memory_mib == 16);
        CHECK(g.period_us == 50000);
    }
}

TEST_CASE("config: a guest's CPU: 0 unless set, globally or per guest") {
    const vmx::Config& cfg = load("cpu = 2\n[guest a]\nimage = spin\n[guest b]\nimage = spin\ncpu = 0\n");
    CHECK(guest(cfg, "a").cpu == 2);
    CHECK(guest(cfg, "b").cpu == 0);
    CHECK(guest(load("[guest a]\nimage = spin\n"), "a").cpu == 0);
}

TEST_CASE("config: a guest's own value wins over the global one") {
    const vmx::Config& cfg =
        load("policy = capped\nslice_us = 2000\nyield_on_hlt = 1\n"
             "[guest a]\nimage = spin\nslice_us = 500\nyield_on_hlt = off\ntick_hz = 1000\n"
             "memory_mib = 64\ncap_percent = 25\nperiod_us = 20000\nparam = 12345\n"
             "[guest b]\nimage = spin\n");
    const vmx::GuestConfig& a = guest(cfg, "a");
    CHECK(a.slice_us == 500);
    CHECK_FALSE(a.yield_on_hlt);
    CHECK(a.tick_hz == 1000);
    CHECK(a.memory_mib == 64);
    CHECK(a.cap_percent == 25);
    CHECK(a.period_us == 20000);
    CHECK(a.param == 12345);
    const vmx::GuestConfig& b = guest(cfg, "b");
    CHECK(b.slice_us == 2000);
    CHECK(b.yield_on_hlt);
    CHECK(b.cap_percent == 100);
}

TEST_CASE("config: on_guest_exit defaults to reserve under fixed, reclaim otherwise") {
    CHECK(load("policy = fixed\n[guest a]\nimage=spin\n").on_guest_exit ==
          vmx::OnGuestExit::reserve);
    CHECK(load("policy = shared\n[guest a]\nimage=spin\n").on_guest_exit ==
          vmx::OnGuestExit::reclaim);
    CHECK(load("policy = capped\n[guest a]\nimage=spin\n").on_guest_exit ==
          vmx::OnGuestExit::reclaim);
    CHECK(load("policy = shared\non_guest_exit = reserve\n[guest a]\nimage=spin\n").on_guest_exit ==
          vmx::OnGuestExit::reserve);
    CHECK(load("on_guest_exit = reclaim\n[guest a]\nimage=spin\n").on_guest_exit ==
          vmx::OnGuestExit::reclaim);
    // A policy from the load options changes the default, too.
    CHECK(load("[guest a]\nimage=spin\n", "policy=shared").on_guest_exit ==
          vmx::OnGuestExit::reclaim);
}

TEST_CASE("config: load options override the file and reach guests that did not set the key") {
    const vmx::Config& cfg = load("slice_us = 1000\nduration_ms = 500\n"
                                  "[guest a]\nimage = spin\n"
                                  "[guest b]\nimage = spin\nslice_us = 3000\n",
                                  "slice_us=250 duration_ms=2000 policy=shared yield_on_hlt=1 "
                                  "on_finish=shutdown tsc_hz=3000000000");
    CHECK(cfg.slice_us == 250);
    CHECK(cfg.duration_ms == 2000);
    CHECK(cfg.policy == vmx::Policy::shared);
    CHECK(cfg.on_finish == vmx::OnFinish::shutdown);
    CHECK(cfg.tsc_hz == 3000000000ull);
    CHECK(guest(cfg, "a").slice_us == 250);
    CHECK(guest(cfg, "a").yield_on_hlt);
    CHECK(guest(cfg, "b").slice_us == 3000); // set by the guest itself
    CHECK(cfg.origin[static_cast<unsigned>(vmx::ConfigKey::slice_us)].source ==
          vmx::ConfigSource::load_options);
    CHECK(cfg.origin[static_cast<unsigned>(vmx::ConfigKey::slice_us)].line == 1);
}

TEST_CASE("config: guest.NAME.key load options set one guest's key") {
    const vmx::Config& cfg =
        load("[guest a]\nimage = spin\nslice_us = 3000\n[guest b]\nimage = spin\n",
             "guest.a.slice_us=700 guest.b.image=\\guests\\b.elf guest.b.param=42 "
             "guest.b.cap_percent=30");
    CHECK(guest(cfg, "a").slice_us == 700);
    const vmx::GuestConfig& b = guest(cfg, "b");
    CHECK(std::strcmp(b.image, "\\guests\\b.elf") == 0);
    CHECK_FALSE(b.image_is_builtin);
    CHECK(b.param == 42);
    CHECK(b.cap_percent == 30);
    CHECK(b.origin[static_cast<unsigned>(vmx::ConfigKey::param)].source ==
          vmx::ConfigSource::load_options);
    CHECK(b.origin[static_cast<unsigned>(vmx::ConfigKey::param)].line == 3);
}

TEST_CASE("config: load options skip the program name and config=, split on any blanks") {
    const std::string file = "[guest a]\nimage = spin\n";
    const vmx::Config& cfg = load(file, "metronome.efi \t config=\\x.cfg   slice_us=400\t\r\n");
    CHECK(cfg.slice_us == 400);
    // A NUL ends the options (UEFI load options often carry one).
    const std::string with_nul("slice_us=300\0slice_us=x", 23);
    CHECK(load(file, with_nul).slice_us == 300);
    // Later words win.
    CHECK(load(file, "slice_us=300 slice_us=900").slice_us == 900);
    CHECK(load(file, "").slice_us == 1000);
}

TEST_CASE("config: find_load_option finds the shell's own words") {
    const std::string opts = "metronome.efi config=\\a.cfg slice_us=5 config=\\b.cfg";
    char out[16];
    CHECK(vmx::find_load_option(opts.data(), opts.size(), "config", out, sizeof out) ==
          vmx::OptionLookup::found);
    CHECK(std::strcmp(out, "\\b.cfg") == 0);
    CHECK(vmx::find_load_option(opts.data(), opts.size(), "missing", out, sizeof out) ==
          vmx::OptionLookup::absent);
    CHECK(out[0] == '\0');
    char tiny[4];
    CHECK(vmx::find_load_option(opts.data(), opts.size(), "config", tiny, sizeof tiny) ==
          vmx::OptionLookup::too_long);
    CHECK(tiny[0] == '\0');
    CHECK(vmx::find_load_option(nullptr, 0, "config", out, sizeof out) ==
          vmx::OptionLookup::absent);
}

TEST_CASE("config: CRLF line ends, tabs, comments after values and no trailing newline") {
    const vmx::Config& cfg = load("# Metronome\r\n\tslice_us\t=\t2000\t# two ms\r\n"
                                  "policy=shared#no space before the comment\r\n"
                                  "\r\n   \r\n[guest\ta]   # section comment\r\n"
                                  "  image = spin  \r\n[ guest b ]\r\nimage=idle\r\ntick_hz=10");
    CHECK(cfg.slice_us == 2000);
    CHECK(cfg.policy == vmx::Policy::shared);
    REQUIRE(cfg.guest_count == 2);
    CHECK(std::strcmp(cfg.guests[0].image, "spin") == 0);
    CHECK(std::strcmp(cfg.guests[1].name, "b") == 0);
    CHECK(cfg.guests[1].tick_hz == 10);
    CHECK(cfg.guests[1].origin[static_cast<unsigned>(vmx::ConfigKey::tick_hz)].line == 10);
}

TEST_CASE("config: a UTF-8 byte-order mark and non-ASCII comments are fine") {
    const vmx::Config& cfg =
        load("\xef\xbb\xbfslice_us = 20 # 20 \xc2\xb5s\n[guest a] # \xe2\x9c\x93\nimage=spin");
    CHECK(cfg.slice_us == 20);
    CHECK(cfg.guest_count == 1);
}

TEST_CASE("config: booleans and enum words in every accepted spelling") {
    const std::string file = "[guest a]\nimage = spin\n";
    for (const char* yes : {"1", "true", "yes", "on", "TRUE", "Yes", "ON"}) {
        CHECK(load(file, std::string("yield_on_hlt=") + yes).yield_on_hlt);
    }
    for (const char* no : {"0", "false", "no", "off", "False", "NO", "Off"}) {
        CHECK_FALSE(load(file, std::string("yield_on_hlt=1 yield_on_hlt=") + no).yield_on_hlt);
    }
    CHECK(load(file, "policy=Capped").policy == vmx::Policy::capped);
    CHECK(load(file, "on_guest_exit=RECLAIM").on_guest_exit == vmx::OnGuestExit::reclaim);
    CHECK(load(file, "on_finish=shutdown").on_finish == vmx::OnFinish::shutdown);
}

TEST_CASE("config: numbers take '_' separators and the full range of each key") {
    const vmx::Config& cfg =
        load("duration_ms = 3_600_000\nslice_us = 1_000_000\ntsc_hz = 100_000_000_000\n"
             "[guest a]\nimage = spin\nparam = 18446744073709551615\nmemory_mib = 256\n"
             "tick_hz = 10000\n[guest b]\nimage=spin\nslice_us=10\nmemory_mib=1\ntick_hz=0\n");
    CHECK(cfg.duration_ms == 3600000);
    CHECK(cfg.slice_us == 1000000);
    CHECK(cfg.tsc_hz == 100000000000ull);
    CHECK(guest(cfg, "a").param == 18446744073709551615ull);
    CHECK(guest(cfg, "a").memory_mib == 256);
    CHECK(guest(cfg, "a").tick_hz == 10000);
    CHECK(guest(cfg, "b").slice_us == 10);
    CHECK(guest(cfg, "b").memory_mib == 1);
    CHECK(load("tsc_hz = 0\n[guest a]\nimage=spin\n").tsc_hz == 0);
}

TEST_CASE("config: images are built-in workloads or paths on the ESP") {
    const vmx::Config& cfg = load("[guest w1]\nimage = spin\n[guest w2]\nimage = \\guests\\a.elf\n"
                                  "[guest w3]\nimage = \\My Guests\\b c.elf\n");
    CHECK(guest(cfg, "w1").image_is_builtin);
    CHECK_FALSE(guest(cfg, "w2").image_is_builtin);
    CHECK(std::strcmp(guest(cfg, "w2").image, "\\guests\\a.elf") == 0);
    CHECK(std::strcmp(guest(cfg, "w3").image, "\\My Guests\\b c.elf") == 0);
    for (const char* w : vmx::builtin_workloads)
        CHECK(vmx::is_builtin_workload(w));
    CHECK_FALSE(vmx::is_builtin_workload("Spin"));
    CHECK_FALSE(vmx::is_builtin_workload(""));
    CHECK_FALSE(vmx::is_builtin_workload(nullptr));
    CHECK(vmx::builtin_workload_count == sizeof vmx::builtin_workloads / sizeof(const char*));
}

TEST_CASE("config: guest names may use letters, digits, '_' and '-' up to 31 characters") {
    const std::string longest(31, 'x');
    const vmx::Config& cfg =
        load("[guest A-b_9]\nimage=spin\n[guest " + longest + "]\nimage=spin\n");
    CHECK(vmx::find_guest(cfg, "A-b_9") != nullptr);
    CHECK(vmx::find_guest(cfg, longest.c_str()) != nullptr);
    CHECK(vmx::find_guest(cfg, "a-b_9") == nullptr); // names are case-sensitive
    CHECK(vmx::find_guest(cfg, nullptr) == nullptr);
}

TEST_CASE("config: exactly 256 guests fit") {
    std::string text;
    for (unsigned i = 0; i < vmx::max_guests; ++i) {
        text += "[guest g" + std::to_string(i) + "]\nimage = spin\n";
    }
    const vmx::Config& cfg = load(text);
    CHECK(cfg.guest_count == 256);
    CHECK(std::strcmp(cfg.guests[255].name, "g255") == 0);
    const std::string j = json(cfg);
    CHECK(j.find("{\"name\":\"g255\"") != std::string::npos);
}

TEST_CASE("config: under capped the caps may sum past 100; cap keys are accepted elsewhere") {
    const vmx::Config& cfg = load("policy = capped\n[guest a]\nimage=spin\ncap_percent=80\n"
                                  "[guest b]\nimage=spin\ncap_percent=80\n");
    CHECK(guest(cfg, "a").cap_percent + guest(cfg, "b").cap_percent == 160);
    CHECK(load("policy = fixed\n[guest a]\nimage=spin\ncap_percent=10\nperiod_us=20\n").policy ==
          vmx::Policy::fixed);
    // slice_us may exceed period_us outside capped: the period is unused there.
    CHECK(load("slice_us = 5000\nperiod_us = 1000\n[guest a]\nimage=spin\n").slice_us == 5000);
}

TEST_CASE("config: finalize is idempotent and later load options re-flow into guests") {
    const std::string text = "[guest a]\nimage = spin\n";
    REQUIRE(vmx::parse_config(text.data(), text.size(), g_cfg).ok);
    CHECK_FALSE(g_cfg.finalized);
    REQUIRE(vmx::finalize_config(g_cfg).ok);
    CHECK(g_cfg.guests[0].slice_us == 1000);
    REQUIRE(vmx::finalize_config(g_cfg).ok);
    CHECK(g_cfg.guests[0].slice_us == 1000);
    const std::string opts = "slice_us=123";
    REQUIRE(vmx::apply_load_options(g_cfg, opts.data(), opts.size()).ok);
    CHECK_FALSE(g_cfg.finalized);
    REQUIRE(vmx::finalize_config(g_cfg).ok);
    CHECK(g_cfg.guests[0].slice_us == 123);
    // A new parse starts from scratch.
    const std::string other = "[guest z]\nimage = idle\ntick_hz = 5\n";
    REQUIRE(vmx::parse_config(other.data(), other.size(), g_cfg).ok);
    CHECK(g_cfg.guest_count == 1);
    CHECK(g_cfg.slice_us == 1000);
    CHECK_FALSE(g_cfg.is_set(vmx::ConfigKey::slice_us));
}

TEST_CASE("config: format_config prints the effective configuration as JSON") {
    const vmx::Config& cfg = load(fixed_example, "policy=shared");
    const std::string j = json(cfg);
    CHECK(j.front() == '{');
    CHECK(j.back() == '}');
    CHECK(j.find("\"duration_ms\":1000,\"measure_ms\":0,\"slice_us\":1000,\"policy\":\"shared\"") == 1);
    CHECK(j.find("\"yield_on_hlt\":false") != std::string::npos);
    CHECK(j.find("\"on_guest_exit\":\"reserve\"") != std::string::npos); // set in the file
    CHECK(j.find("\"on_finish\":\"return_to_firmware\"") != std::string::npos);
    CHECK(j.find("\"tsc_hz\":0") != std::string::npos);
    // Keys in the list's order (vmx/config/config_keys.hpp); empty texts are left out.
    CHECK(j.find("\"guests\":[{\"name\":\"a\",\"image\":\"spin\",\"builtin\":true,\"param\":0,"
                 "\"slice_us\":1000,\"yield_on_hlt\":false,\"tick_hz\":0,\"memory_mib\":2,"
                 "\"period_us\":100000,\"tsc\":\"wall\",\"cap_percent\":100,\"cpu\":0},{\"name\":\"idle\"") !=
          std::string::npos);
    CHECK(j.find("\"tick_hz\":100,") != std::string::npos);
    CHECK(j.find('\n') == std::string::npos);
}

TEST_CASE("config: format_config escapes paths for JSON") {
    const vmx::Config& cfg = load("[guest a]\nimage = \\guests\\\"q\".elf\n");
    const std::string j = json(cfg);
    CHECK(j.find("\"image\":\"\\\\guests\\\\\\\"q\\\".elf\",\"builtin\":false") !=
          std::string::npos);
}

TEST_CASE("config: key and enum names") {
    CHECK(std::strcmp(vmx::config_key_name(vmx::ConfigKey::on_guest_exit), "on_guest_exit") == 0);
    CHECK(std::strcmp(vmx::config_key_name(vmx::ConfigKey::param), "param") == 0);
    CHECK(std::strcmp(vmx::policy_name(vmx::Policy::capped), "capped") == 0);
    CHECK(std::strcmp(vmx::on_guest_exit_name(vmx::OnGuestExit::reclaim), "reclaim") == 0);
    CHECK(std::strcmp(vmx::on_finish_name(vmx::OnFinish::shutdown), "shutdown") == 0);
}

TEST_CASE("config: cap_percent, like period_us, is a global default a guest may override") {
    const vmx::Config& cfg = load("policy = capped\ncap_percent = 25\nperiod_us = 10000\n"
                                  "[guest a]\nimage = spin\n[guest b]\nimage = spin\ncap_percent = 50\n");
    CHECK(cfg.cap_percent == 25);
    CHECK(guest(cfg, "a").cap_percent == 25);
    CHECK(guest(cfg, "b").cap_percent == 50);
    CHECK(guest(cfg, "a").period_us == 10000);
}
