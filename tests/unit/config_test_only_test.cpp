// The test-only key test_corrupt_guest_state (per guest, boolean): it makes vmx/hw/session.cpp
// write an invalid guest RFLAGS into that guest's VMCS so its VM entry fails (exit reason 33).
#include "vmx/config/config.hpp"
#include "vmx/lib/text.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <string>

namespace {

vmx::Config g_cfg; // large (max_guests guests): static, as on the target

constexpr const char* two_guests = "[guest a]\nimage = spin\n[guest b]\nimage = spin\n";

std::string load(const std::string& text, const std::string& options = "") {
    const vmx::ConfigResult r =
        vmx::load_config(text.data(), text.size(), options.data(), options.size(), g_cfg);
    if (r.ok) return "";
    vmx::FixedText<512> t;
    vmx::format_config_error(r, "metronome.cfg", t);
    return t.c_str();
}

std::string json() {
    vmx::FixedText<4096> t;
    vmx::format_config(g_cfg, t);
    return t.c_str();
}

} // namespace

TEST_CASE("test_corrupt_guest_state: off by default and absent from the report") {
    REQUIRE(load(two_guests) == "");
    CHECK_FALSE(g_cfg.guests[0].test_corrupt_guest_state);
    CHECK_FALSE(g_cfg.guests[1].test_corrupt_guest_state);
    CHECK(json().find("test_corrupt_guest_state") == std::string::npos);
    CHECK(std::strcmp(vmx::config_key_name(vmx::ConfigKey::test_corrupt_guest_state), "test_corrupt_guest_state") == 0);
}

TEST_CASE("test_corrupt_guest_state: set for one guest only, shown in the report") {
    REQUIRE(load("[guest a]\nimage = spin\n[guest b]\nimage = spin\ntest_corrupt_guest_state = 1\n") == "");
    CHECK_FALSE(g_cfg.guests[0].test_corrupt_guest_state);
    CHECK(g_cfg.guests[1].test_corrupt_guest_state);
    CHECK_FALSE(g_cfg.guests[1].yield_on_hlt);  // a boolean of its own, not yield_on_hlt
    const std::string j = json();
    const std::size_t b = j.find("\"name\":\"b\"");
    REQUIRE(b != std::string::npos);
    CHECK(j.find("\"test_corrupt_guest_state\":true", b) != std::string::npos);
    CHECK(j.find("\"test_corrupt_guest_state\":true") > b);
}

TEST_CASE("test_corrupt_guest_state: from the load options, and 0 turns it off") {
    REQUIRE(load(two_guests, "guest.a.test_corrupt_guest_state=yes") == "");
    CHECK(g_cfg.guests[0].test_corrupt_guest_state);
    REQUIRE(load("[guest a]\nimage = spin\ntest_corrupt_guest_state = on\n", "guest.a.test_corrupt_guest_state=0") == "");
    CHECK_FALSE(g_cfg.guests[0].test_corrupt_guest_state);
}

TEST_CASE("test_corrupt_guest_state: per guest only, boolean only, once per section") {
    CHECK(load(std::string("test_corrupt_guest_state = 1\n") + two_guests).find("metronome.cfg:1:") == 0);
    const std::string bad = load("[guest a]\nimage = spin\ntest_corrupt_guest_state = 2\n");
    CHECK(bad.find("metronome.cfg:3:") == 0);
    CHECK(bad.find("test_corrupt_guest_state") != std::string::npos);
    CHECK(load("[guest a]\nimage = spin\ntest_corrupt_guest_state = 1\ntest_corrupt_guest_state = 0\n").find("metronome.cfg:4:") == 0);
    CHECK(load(two_guests, "test_corrupt_guest_state=1").find("load options:1:") == 0);
}

TEST_CASE("test_corrupt_guest_state: not listed among the keys a user is shown") {
    const std::string e = load("[guest a]\nimage = spin\nfrobnicate = 1\n");
    CHECK(e.find("keys here:") != std::string::npos);
    CHECK(e.find("test_corrupt_guest_state") == std::string::npos);
}

TEST_CASE("test_fail_vmxon: a global test-only key, off by default, hidden, reported when set") {
    CHECK(load(two_guests) == "");
    CHECK_FALSE(g_cfg.test_fail_vmxon);
    CHECK(json().find("test_fail_vmxon") == std::string::npos);
    CHECK(load(std::string("test_fail_vmxon = 1\n") + two_guests) == "");
    CHECK(g_cfg.test_fail_vmxon);
    CHECK(json().find("\"test_fail_vmxon\":true") != std::string::npos);
    CHECK(load(two_guests, "test_fail_vmxon=yes") == "");
    CHECK(g_cfg.test_fail_vmxon);
    // Global only: inside a guest section it is an error naming the line and the key.
    const std::string in_guest = load("[guest a]\nimage = spin\ntest_fail_vmxon = 1\n");
    CHECK(in_guest.find("metronome.cfg:3") != std::string::npos);
    CHECK(in_guest.find("test_fail_vmxon") != std::string::npos);
    // Not advertised in the list of keys an unknown key gets.
    const std::string unknown = load(std::string("zzzzzzzzzz = 1\n") + two_guests);
    CHECK(unknown.find("keys here") != std::string::npos);
    CHECK(unknown.find("test_fail_vmxon") == std::string::npos);
}
