// A Linux guest's exits against its virtual PC (vmx/devices/pc.hpp): the APIC's MSRs, the timer
// handed to the run loop, the UART's output and IRQ 4 through the 8259 and LINT0, HLT with an
// interrupt pending, reset requests, and the legacy ports' answers.
#include <doctest/doctest.h>

#include <string>

#include "fake_vmcs.hpp"
#include "vmx/arch/interruption.hpp"
#include "vmx/arch/msr.hpp"
#include "vmx/devices/pc.hpp"
#include "vmx/exits/exit_helpers.hpp"

using vmx::ExitOutcome;
using vmx::Field;

namespace {

struct Linux : testing_support::ExitFixture {
    vmx::PcPlatform pc;
    Linux() : ExitFixture("linux") {
        guest.pc = &pc;
        pc.tsc_hz = 1000000000;
    }
    ExitOutcome wrmsr(std::uint32_t msr, std::uint64_t value) {
        guest.regs.rcx = msr;
        guest.regs.rax = value & 0xffffffffu;
        guest.regs.rdx = value >> 32;
        return exit(vmx::exit_reason::wrmsr);
    }
    std::uint64_t rdmsr(std::uint32_t msr) {
        guest.regs.rcx = msr;
        REQUIRE(exit(vmx::exit_reason::rdmsr) == ExitOutcome::resume);
        return (guest.regs.rdx << 32) | (guest.regs.rax & 0xffffffffu);
    }
    void out(std::uint16_t port, std::uint8_t value) {
        guest.regs.rax = value;
        exit(vmx::exit_reason::io_instruction, io(port, 1, false), 1);
    }
    std::uint8_t in(std::uint16_t port) {
        guest.regs.rax = 0;
        exit(vmx::exit_reason::io_instruction, io(port, 1, true), 1);
        return static_cast<std::uint8_t>(guest.regs.rax);
    }
    // The local APIC and the 8259 as Linux leaves them (TSC-deadline timer at 0xEC, LINT0 ExtINT,
    // IRQ 4 unmasked, the UART's transmitter interrupt on with OUT2).
    void boot() {
        wrmsr(0x80f, 0x1ff);
        wrmsr(0x835, 0x700);
        wrmsr(0x832, 0xec | (2u << 17));
        for (auto [port, value] : {std::pair<std::uint16_t, std::uint8_t>{0x20, 0x11}, {0x21, 0x30}, {0x21, 0x04},
                                   {0x21, 0x01}, {0xa0, 0x11}, {0xa1, 0x38}, {0xa1, 0x02}, {0xa1, 0x01},
                                   {0x21, 0xeb}, {0xa1, 0xff}})
            out(port, value);
        vmcs.set(Field::entry_interruption_info, 0);
    }
};

} // namespace

TEST_CASE("pc exits: IA32_APIC_BASE says x2APIC on; leaving x2APIC mode is #GP") {
    Linux g;
    CHECK(g.rdmsr(vmx::msr::ia32_apic_base) == 0xfee00d00u);
    CHECK(g.wrmsr(vmx::msr::ia32_apic_base, 0xfee00900u) == ExitOutcome::resume);
    CHECK(g.injected_vector() == vmx::vector::gp);
    CHECK(g.rdmsr(vmx::msr::ia32_misc_enable) == 1);
    CHECK(g.rdmsr(vmx::msr::ia32_feature_control) == 1);
    g.vmcs.set(Field::entry_interruption_info, 0);
    g.guest.regs.rcx = 0xce; // MSR_PLATFORM_INFO: probed safely by Linux, absent here
    g.exit(vmx::exit_reason::rdmsr);
    CHECK(g.injected_vector() == vmx::vector::gp);
}

TEST_CASE("pc exits: a TSC-deadline write goes to the run loop, which tells the scheduler") {
    Linux g;
    g.boot();
    CHECK(g.wrmsr(vmx::msr::ia32_tsc_deadline, 123456789) == ExitOutcome::timer_changed);
    CHECK(g.pc.lapic.timer_due() == 123456789);
    CHECK(vmx::pc_timer_due_host(g.guest) == 123456789);
    CHECK(g.pc.counters.timer_armed == 1);
    g.guest.tsc_offset = static_cast<std::uint64_t>(-1000); // the guest's TSC is 1000 behind
    CHECK(vmx::pc_timer_due_host(g.guest) == 123456789 + 1000);
}

TEST_CASE("pc exits: the timer's expiry is injected when the guest can take it, else waits for the window") {
    Linux g;
    g.boot();
    g.wrmsr(vmx::msr::ia32_tsc_deadline, 10);
    REQUIRE(vmx::pc_timer_tick(g.guest));
    g.vmcs.set(Field::guest_rflags, 0x2); // IF = 0
    CHECK_FALSE(vmx::deliver_pc_interrupt(g.guest));
    CHECK((g.vmcs.get(Field::primary_processor_based_controls) & (1u << 2)) != 0);
    g.vmcs.set(Field::guest_rflags, 0x202);
    CHECK(g.exit(vmx::exit_reason::interrupt_window) == ExitOutcome::resume);
    CHECK(g.injected_vector() == 0xec);
    CHECK((g.vmcs.get(Field::primary_processor_based_controls) & (1u << 2)) == 0);
    CHECK(g.pc.counters.timer_injected == 1);
    CHECK(g.wrmsr(0x80b, 0) == ExitOutcome::resume); // EOI
    CHECK(g.pc.lapic.eois == 1);
}

TEST_CASE("pc exits: UART output becomes the guest's console line; its IRQ 4 arrives as the 8259's vector") {
    Linux g;
    g.boot();
    g.out(0x3fc, 0x0b); // MCR: OUT2
    g.out(0x3f9, 0x02); // IER: transmitter empty
    for (char c : std::string("ok\n")) g.out(0x3f8, static_cast<std::uint8_t>(c));
    REQUIRE(g.platform.lines.size() == 1);
    CHECK(g.platform.lines[0] == "linux: ok");
    CHECK(vmx::pc_pending_vector(g.pc) == 0x34);
    CHECK(vmx::deliver_pc_interrupt(g.guest));
    CHECK(g.injected_vector() == 0x34);
    CHECK(g.pc.counters.pic_interrupts == 1);
    CHECK(g.in(0x3fa) == 0xc2 - 0xc0); // IIR: transmitter empty (FIFO off)
}

TEST_CASE("pc exits: a HLT with an interrupt pending does not halt") {
    Linux g;
    g.boot();
    g.wrmsr(0x83f, 0x40); // a self-IPI
    CHECK(g.exit(vmx::exit_reason::hlt, 0, 1) == ExitOutcome::resume);
    Linux idle;
    idle.boot();
    CHECK(idle.exit(vmx::exit_reason::hlt, 0, 1) == ExitOutcome::halted);
}

TEST_CASE("pc exits: reset requests stop the guest as `reboot` and reset nothing") {
    for (auto [port, value] : {std::pair<std::uint16_t, std::uint8_t>{0x64, 0xfe}, {0xcf9, 0x06}, {0x92, 0x01}}) {
        Linux g;
        CAPTURE(port);
        g.guest.regs.rax = value;
        CHECK(g.exit(vmx::exit_reason::io_instruction, g.io(port, 1, false), 1) == ExitOutcome::stopped);
        CHECK(g.guest.stop.reason == vmx::StopReason::reboot);
        CHECK(std::string(vmx::stop_reason_key(g.guest.stop.reason)) == "reboot");
        CHECK(std::string(g.guest.stop.detail).find("reboot requested") == 0);
    }
    Linux g;
    g.out(0x64, 0xd1); // other keyboard-controller commands are harmless
    CHECK(g.guest.stop.reason == vmx::StopReason::none);
}

TEST_CASE("pc exits: legacy ports answer as Linux needs: CMOS, keyboard status 0, PIC mask read-back") {
    Linux g;
    g.out(0x70, 0x0a);
    CHECK((g.in(0x71) & 0x80) == 0);
    CHECK(g.in(0x64) == 0);
    g.out(0x21, 0xfb);
    CHECK(g.in(0x21) == 0xfb);
    CHECK(g.in(0x2f8) == 0xff); // COM2 is not there
    CHECK(g.guest.counters.io_reads_all_ones == 1);
}
