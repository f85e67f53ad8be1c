// Every text a guest's stop can carry into the report, at its longest: it must fit whole in
// GuestStop::detail (the report prints it as is). A cut text loses what matters most, its end:
// "powered down (code 160456909845" once lost its digits and its closing parenthesis.
#include "vmx/exits/exit_handler.hpp"
#include "vmx/run/run_loop.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "fake_vmcs.hpp"
#include "guest/runtime/abi.hpp"

using testing_support::ExitFixture;
using vmx::Field;

namespace {

// Whole: the expected ending is there and the buffer was not filled to its last byte.
void check_whole(const char* detail, const std::string& ending) {
    const std::string text = detail;
    INFO(text);
    CHECK(text.size() + 1 < sizeof(vmx::GuestStop::detail));
    REQUIRE(text.size() >= ending.size());
    CHECK(text.compare(text.size() - ending.size(), ending.size(), ending) == 0);
}

} // namespace

TEST_CASE("stop texts: powerdown with the largest code keeps every digit") {
    ExitFixture f;
    f.guest.regs.rax = static_cast<std::uint64_t>(metronome::abi::Hypercall::powerdown);
    f.guest.regs.rbx = ~0ull;
    f.exit(vmx::exit_reason::vmcall, 0, 3);
    check_whole(f.guest.stop.detail, "powered down (code 18446744073709551615)");
    f.guest.regs.rbx = 0xdeadbeefcafef00dull;
    f.exit(vmx::exit_reason::vmcall, 0, 3);
    check_whole(f.guest.stop.detail, "(code 16045690984503111693)");
}

TEST_CASE("stop texts: an EPT violation at the largest address in the largest memory") {
    ExitFixture f;
    f.guest.memory_size = std::uint64_t{256} << 20;
    f.vmcs.set(Field::guest_physical_address, ~0ull);
    f.exit(vmx::exit_reason::ept_violation, 4);
    check_whole(f.guest.stop.detail, "instruction fetch at guest-physical 0xffffffffffffffff (outside its 262144 KiB)");
    f.vmcs.set(Field::guest_physical_address, ~0ull);
    f.exit(vmx::exit_reason::ept_misconfiguration);
    check_whole(f.guest.stop.detail, "EPT misconfiguration at guest-physical 0xffffffffffffffff");
}

TEST_CASE("stop texts: every unhandled exit reason, with the largest qualification") {
    for (std::uint16_t r = 0; r < 80; ++r) {
        ExitFixture f;
        f.vmcs.set(Field::exit_qualification, ~0ull);
        f.exit(r, ~0ull);
        if (f.guest.stop.reason != vmx::StopReason::unhandled_exit) continue;
        CAPTURE(r);
        check_whole(f.guest.stop.detail, "qualification 0xffffffffffffffff");
    }
}

TEST_CASE("stop texts: every failed VM entry, by exit reason and qualification") {
    for (std::uint64_t q = 0; q < 8; ++q) {
        for (std::uint16_t r : {vmx::exit_reason::entry_failure_guest_state, vmx::exit_reason::entry_failure_msr_loading,
                                vmx::exit_reason::entry_failure_machine_check}) {
            ExitFixture f;
            f.vmcs.set(Field::exit_reason, (1u << 31) | r); // bit 31: VM-entry failure
            f.vmcs.set(Field::exit_qualification, q);
            f.handle();
            INFO(r, " ", q, ": ", f.guest.stop.detail);
            CHECK(f.guest.stop.reason == vmx::StopReason::entry_failure);
            CHECK(std::strlen(f.guest.stop.detail) + 1 < sizeof(vmx::GuestStop::detail));
        }
    }
}

TEST_CASE("stop texts: every VM-instruction error of a failed VMLAUNCH or VMRESUME") {
    for (std::uint32_t e = 0; e < 64; ++e) {
        for (bool launched : {false, true}) {
            vmx::EntryResult r;
            r.vm_instruction_error = e;
            vmx::FixedText<sizeof(vmx::GuestStop::detail)> text;
            vmx::describe_failed_entry(launched, r, text);
            CAPTURE(e);
            CHECK_FALSE(text.truncated());
            check_whole(text.c_str(), "(VM-instruction error " + std::to_string(e) + ")");
        }
    }
}
