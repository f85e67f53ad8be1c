// The debugger keys: debug_break (none | start | vmentry) and debug_guest (a guest's name), read
// by vmx/hw/debug_break.cpp to place Bochs magic breakpoints for `tools/metronome debug`.
#include "vmx/config/config.hpp"
#include "vmx/lib/text.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <string>

namespace {

vmx::Config g_cfg; // large (64 guests): static, as on the target

constexpr const char* two_guests =
    "[guest a]\nimage = spin\n[guest b]\nimage = idle\ntick_hz = 100\n";

// The error line of loading `text` with `options`, "" when it loads.
std::string load(const std::string& text, const std::string& options = "") {
    const vmx::ConfigResult r =
        vmx::load_config(text.data(), text.size(), options.data(), options.size(), g_cfg);
    if (r.ok) return "";
    vmx::FixedText<512> t;
    vmx::format_config_error(r, "metronome.cfg", t);
    return t.c_str();
}

} // namespace

TEST_CASE("debug keys: off by default") {
    REQUIRE(load(two_guests) == "");
    CHECK(g_cfg.debug_break == vmx::DebugBreak::none);
    CHECK(g_cfg.debug_guest[0] == '\0');
}

TEST_CASE("debug keys: every debug_break word, any case") {
    REQUIRE(load(std::string("debug_break = start\n") + two_guests) == "");
    CHECK(g_cfg.debug_break == vmx::DebugBreak::start);
    REQUIRE(load(std::string("debug_break = VMEntry\n") + two_guests) == "");
    CHECK(g_cfg.debug_break == vmx::DebugBreak::vmentry);
    REQUIRE(load(std::string("debug_break = none\n") + two_guests) == "");
    CHECK(g_cfg.debug_break == vmx::DebugBreak::none);
    CHECK(std::strcmp(vmx::debug_break_name(vmx::DebugBreak::vmentry), "vmentry") == 0);
    CHECK(std::strcmp(vmx::config_key_name(vmx::ConfigKey::debug_guest), "debug_guest") == 0);
}

TEST_CASE("debug keys: debug_guest picks a guest of the file") {
    REQUIRE(load(std::string("debug_break = vmentry\ndebug_guest = b\n") + two_guests) == "");
    CHECK(std::string(g_cfg.debug_guest) == "b");
    CHECK(g_cfg.origin[static_cast<unsigned>(vmx::ConfigKey::debug_guest)].line == 2);
    // A reload starts from the defaults again.
    REQUIRE(load(two_guests) == "");
    CHECK(g_cfg.debug_guest[0] == '\0');
}

TEST_CASE("debug keys: load options set them like any global key") {
    REQUIRE(load(two_guests, "debug_break=vmentry debug_guest=a") == "");
    CHECK(g_cfg.debug_break == vmx::DebugBreak::vmentry);
    CHECK(std::string(g_cfg.debug_guest) == "a");
}

TEST_CASE("debug keys: mistakes name the line and the key") {
    CHECK(load(std::string("debug_break = vmexit\n") + two_guests) ==
          "metronome.cfg:1: key 'debug_break': 'vmexit' is not one of none, start, vmentry");
    CHECK(load(std::string("debug_break = vmentry\ndebug_guest = c\n") + two_guests) ==
          "metronome.cfg:2: debug_guest: no guest named 'c' in the configuration");
    CHECK(load(std::string("debug_guest = a\n") + two_guests) ==
          "metronome.cfg:1: debug_guest needs debug_break = vmentry (debug_break is none)");
    CHECK(load(std::string("debug_break = start\ndebug_guest = a\n") + two_guests) ==
          "metronome.cfg:2: debug_guest needs debug_break = vmentry (debug_break is start)");
    CHECK(load(std::string("debug_break = vmentry\ndebug_guest = a.b\n") + two_guests) ==
          "metronome.cfg:2: key 'debug_guest': 'a.b' is not a guest name "
          "(1..31 of A-Z a-z 0-9 _ -)");
    CHECK(load(std::string("debug_guest = ") + std::string(32, 'x') + "\n" + two_guests)
              .find("is not a guest name") != std::string::npos);
    CHECK(load(std::string("[guest a]\nimage = spin\ndebug_break = start\n"))
              .find("metronome.cfg:3: key 'debug_break' is global") == 0);
    CHECK(load(two_guests, "debug_break=vmentry debug_guest=zz") ==
          "load options:2: debug_guest: no guest named 'zz' in the configuration");
}
