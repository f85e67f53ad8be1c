// The exit handler's answers to hostile guests (guest/workloads/hostile_*.cpp run the same
// instructions end to end in tests/e2e/hostile_test.py): each gets the architectural answer of a
// CPU without the feature, or is stopped with a reason, and nothing it does reaches the host.
#include "vmx/exits/exit_handler.hpp"

#include <doctest/doctest.h>
#include <string>
#include <vector>

#include "fake_vmcs.hpp"
#include "vmx/exits/exit_helpers.hpp"
#include "guest/runtime/abi.hpp"
#include "vmx/guest/guest_layout.hpp"
#include "vmx/arch/interruption.hpp"

using testing_support::FakeVmcs;
using vmx::ExitOutcome;
using vmx::Field;

namespace {

struct Guest : testing_support::ExitFixture {
    Guest() : ExitFixture("h") {}
};

// MOV to/from CR qualification (SDM "Exit Qualification for Control-Register Accesses").
std::uint64_t mov_cr(unsigned cr, unsigned gpr, bool from_cr) {
    return cr | (from_cr ? 1u << 4 : 0u) | (gpr << 8);
}

} // namespace

TEST_CASE("hostile: cli; hlt with HLT exiting stops the guest for good, with the reason") {
    Guest g;
    g.vmcs.set(Field::guest_rflags, 0x2);  // IF = 0
    CHECK(g.exit(vmx::exit_reason::hlt, 0, 1) == ExitOutcome::stopped);
    CHECK(g.guest.stop.reason == vmx::StopReason::halted_forever);
    CHECK(std::string(vmx::stop_reason_key(g.guest.stop.reason)) == "halted_forever");
    CHECK(std::string(g.guest.stop.detail) == "HLT with interrupts disabled (RFLAGS.IF = 0): nothing can wake it");
    CHECK(g.guest.stop.rip == 0x10000);
}

TEST_CASE("hostile: sti; hlt still halts until the next tick") {
    Guest g;
    CHECK(g.exit(vmx::exit_reason::hlt, 0, 1) == ExitOutcome::halted);
    CHECK(g.guest.stop.reason == vmx::StopReason::none);
}

TEST_CASE("hostile: every VMX, SMX and MONITOR/MWAIT instruction gets #UD, RIP unchanged") {
    for (std::uint16_t r : {vmx::exit_reason::vmclear, vmx::exit_reason::vmlaunch, vmx::exit_reason::vmptrld,
                            vmx::exit_reason::vmptrst, vmx::exit_reason::vmread, vmx::exit_reason::vmresume,
                            vmx::exit_reason::vmwrite, vmx::exit_reason::vmxoff, vmx::exit_reason::vmxon,
                            vmx::exit_reason::invept, vmx::exit_reason::invvpid, vmx::exit_reason::vmfunc,
                            vmx::exit_reason::getsec, vmx::exit_reason::monitor, vmx::exit_reason::mwait}) {
        CAPTURE(r);
        Guest g;
        CHECK(g.exit(r, 0, 3) == ExitOutcome::resume);
        CHECK(g.injected_vector() == vmx::vector::ud);
        CHECK(g.vmcs.get(Field::guest_rip) == 0x10000);
        CHECK(g.guest.stop.reason == vmx::StopReason::none);
    }
}

TEST_CASE("hostile: bad hypercall numbers return 'unknown' and leave the other registers alone") {
    for (std::uint64_t number : {4ull, 1ull << 63, ~0ull}) {
        Guest g;
        g.guest.regs.rax = number;
        g.guest.regs.rbx = 0x1111;
        g.guest.regs.rcx = 0x2222;
        g.guest.regs.rdx = 0x3333;
        CHECK(g.exit(vmx::exit_reason::vmcall, 0, 3) == ExitOutcome::resume);
        CHECK(g.guest.regs.rax == metronome::abi::hypercall_unknown);
        CHECK(g.guest.regs.rbx == 0x1111);
        CHECK(g.guest.regs.rcx == 0x2222);
        CHECK(g.guest.regs.rdx == 0x3333);
        CHECK(g.vmcs.get(Field::guest_rip) == 0x10003);
    }
}

TEST_CASE("hostile: console writes outside memory, across its end, wrapping or too long are refused") {
    const std::uint64_t size = 2 << 20;
    const std::uint64_t cases[][2] = {{size, 16}, {size - 8, 16}, {0x7000000, 16}, {~0ull - 7, 16},
                                      {0x10000, 4097}, {0x10000, ~0ull}, {~0ull, 1}};
    for (const auto& c : cases) {
        CAPTURE(c[0]);
        CAPTURE(c[1]);
        Guest g;
        g.guest.regs.rax = static_cast<std::uint64_t>(metronome::abi::Hypercall::console_write);
        g.guest.regs.rbx = c[0];
        g.guest.regs.rcx = c[1];
        g.exit(vmx::exit_reason::vmcall, 0, 3);
        CHECK(g.guest.regs.rax == metronome::abi::hypercall_bad_argument);
        CHECK(g.guest.counters.console_bytes == 0);
        CHECK(g.platform.lines.empty());
    }
}

TEST_CASE("hostile: host-owned MSRs give #GP on read and write, whatever the value") {
    for (std::uint32_t msr : {0x3au, 0x1bu, 0x3bu, 0x6e0u, 0x10u, 0x1d9u, 0x2ffu, 0x480u, 0x12345678u}) {
        for (std::uint16_t r : {vmx::exit_reason::rdmsr, vmx::exit_reason::wrmsr}) {
            CAPTURE(msr);
            Guest g;
            g.guest.regs.rcx = msr;
            g.guest.regs.rax = 0xffffffffu;
            g.guest.regs.rdx = 0xffffffffu;
            CHECK(g.exit(r) == ExitOutcome::resume);
            CHECK(g.injected_vector() == vmx::vector::gp);
            CHECK(g.vmcs.get(Field::guest_rip) == 0x10000);
            CHECK(g.guest.counters.gp_injected == 1);
        }
    }
}

TEST_CASE("hostile: clearing CR0.PG or CR4.PAE, or setting CR4.VMXE, is #GP and changes nothing") {
    Guest g;
    g.vmcs.set(Field::cr0_guest_host_mask, 0x80000021u);
    g.vmcs.set(Field::cr0_read_shadow, 0x80010033u);
    g.vmcs.set(Field::guest_cr0, 0x80010033u);
    g.guest.regs.rbx = 0x00010033u;  // PG clear
    g.exit(vmx::exit_reason::control_register_access, mov_cr(0, 3, false), 3);
    CHECK(g.injected_vector() == vmx::vector::gp);
    CHECK(g.vmcs.get(Field::guest_cr0) == 0x80010033u);
    CHECK(g.vmcs.get(Field::cr0_read_shadow) == 0x80010033u);

    for (std::uint64_t value : {0x2620ull, 0x600ull}) {
        Guest k;
        k.vmcs.set(Field::cr4_guest_host_mask, 1u << 13);
        k.vmcs.set(Field::cr4_read_shadow, 0x620);
        k.vmcs.set(Field::guest_cr4, 0x2620);
        k.guest.regs.rbx = value;
        k.exit(vmx::exit_reason::control_register_access, mov_cr(4, 3, false), 3);
        CHECK(k.injected_vector() == vmx::vector::gp);
        CHECK(k.vmcs.get(Field::guest_cr4) == 0x2620);
        CHECK(k.vmcs.get(Field::cr4_read_shadow) == 0x620);
    }
}

TEST_CASE("hostile: CR8 writes are ignored and reads give 0") {
    Guest g;
    g.guest.regs.rbx = 15;
    CHECK(g.exit(vmx::exit_reason::control_register_access, mov_cr(8, 3, false), 4) == ExitOutcome::resume);
    CHECK(g.injected_vector() == 0xff);
    CHECK(g.vmcs.get(Field::guest_rip) == 0x10004);
    g.guest.regs.rcx = 0xdead;
    g.exit(vmx::exit_reason::control_register_access, mov_cr(8, 1, true), 4);
    CHECK(g.guest.regs.rcx == 0);
}

TEST_CASE("hostile: INVD and WBINVD are skipped, nothing injected") {
    for (std::uint16_t r : {vmx::exit_reason::invd, vmx::exit_reason::wbinvd}) {
        Guest g;
        CHECK(g.exit(r, 0, 2) == ExitOutcome::resume);
        CHECK(g.injected_vector() == 0xff);
        CHECK(g.vmcs.get(Field::guest_rip) == 0x10002);
    }
}

TEST_CASE("hostile: invalid XSETBV is #GP and keeps XCR0; without OSXSAVE it is #UD") {
    const std::uint64_t bad[][2] = {{1, 1}, {0, 0}, {0, 5}, {0, (1ull << 62) | 3}, {0, 0xe3}, {0, 0x23}};
    for (const auto& b : bad) {
        CAPTURE(b[1]);
        Guest g;
        g.vmcs.set(Field::guest_cr4, (1u << 18) | 0x620); // OSXSAVE: not owned, so the real CR4's
        g.guest.xcr0 = 7;
        g.guest.regs.rcx = b[0];
        g.guest.regs.rax = b[1] & 0xffffffffu;
        g.guest.regs.rdx = b[1] >> 32;
        g.exit(vmx::exit_reason::xsetbv, 0, 3);
        CHECK(g.injected_vector() == vmx::vector::gp);
        CHECK(g.guest.xcr0 == 7);
    }
    Guest g;
    g.vmcs.set(Field::guest_cr4, 0x620);
    g.guest.regs.rax = 3;
    g.exit(vmx::exit_reason::xsetbv, 0, 3);
    CHECK(g.injected_vector() == vmx::vector::ud);
}

TEST_CASE("hostile: IN from any port reads all ones, OUT is dropped, also the serial and shutdown ports") {
    for (std::uint64_t port : {0x3f8u, 0x3fdu, 0x8900u, 0xf4u, 0x604u, 0xcf9u, 0x64u, 0xcfcu, 0xffffu}) {
        CAPTURE(port);
        Guest g;
        const std::uint64_t q_out = port << 16;
        g.guest.regs.rax = 0x53;
        g.exit(vmx::exit_reason::io_instruction, q_out, 1);
        CHECK(g.guest.counters.io_writes_dropped == 1);
        CHECK(g.platform.lines.empty());
        g.guest.regs.rax = 0x1234'5678'0000'0000ull;
        g.exit(vmx::exit_reason::io_instruction, q_out | 3u | 8u, 1);  // IN, 4 bytes
        CHECK(g.guest.regs.rax == 0xffffffffull);                    // EAX written, upper half cleared
        g.guest.regs.rax = 0x1234'5678'0000'0000ull;
        g.exit(vmx::exit_reason::io_instruction, q_out | 8u, 1);       // IN, 1 byte
        CHECK(g.guest.regs.rax == 0x1234'5678'0000'00ffull);
    }
}

TEST_CASE("hostile: CPUID does not announce the APIC, x2APIC, TSC deadline or TSC_ADJUST whose MSRs #GP") {
    Guest g;
    g.guest.regs.rax = 1;
    g.exit(vmx::exit_reason::cpuid);
    CHECK((g.guest.regs.rdx & (1u << 9)) == 0);
    CHECK((g.guest.regs.rcx & (1u << 21)) == 0);
    CHECK((g.guest.regs.rcx & (1u << 24)) == 0);
    CHECK((g.guest.regs.rdx & 2u) != 0);  // the rest of the leaf is the CPU's (fake_cpuid: 0x22222222)
    Guest h;
    h.guest.regs.rax = 7;
    h.guest.regs.rcx = 0;
    h.exit(vmx::exit_reason::cpuid);
    CHECK(h.guest.regs.rbx == (0x11111111u & ~2u));
}

TEST_CASE("hostile: a REP INSB of 4096 bytes is handled a few elements per exit, resumed until done") {
    Guest g;
    g.guest.regs.rdi = 0x20000;
    g.guest.regs.rcx = 4096;
    const std::uint64_t rep_insb = (0x80ull << 16) | 8u | 0x10u | 0x20u;  // IN, string, REP, port 0x80
    unsigned exits = 0;
    while (g.guest.regs.rcx != 0 && exits < 10000) {
        g.exit(vmx::exit_reason::io_instruction, rep_insb, 2);
        ++exits;
        if (g.guest.regs.rcx != 0) CHECK(g.vmcs.get(Field::guest_rip) == 0x10000);  // re-executed
    }
    CHECK(exits == 4096 / vmx::string_io_elements_per_exit);
    CHECK(vmx::string_io_elements_per_exit <= 16);  // each exit stays short: ~320 ticks an element
    CHECK(g.vmcs.get(Field::guest_rip) == 0x10002);
    CHECK(g.guest.regs.rdi == 0x20000 + 4096);
    CHECK(g.memory[0x20000] == 0xff);
    CHECK(g.memory[0x20000 + 4095] == 0xff);
    CHECK(g.guest.counters.io_reads_all_ones == 4096);
}
