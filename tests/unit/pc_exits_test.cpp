// A Linux guest's exits against its virtual PC (vmx/devices/pc.hpp): the xAPIC page (EPT
// violations, the instruction decoded), IA32_APIC_BASE and TSC-deadline MSRs, the timer
// handed to the run loop, the UART's output and IRQ 4 through the 8259 and LINT0, HLT with an
// interrupt pending, reset requests, and the legacy ports' answers.
#include <doctest/doctest.h>

#include <algorithm>
#include <iterator>
#include <string>

#include "fake_vmcs.hpp"
#include "vmx/arch/interruption.hpp"
#include "vmx/arch/msr.hpp"
#include "vmx/devices/console.hpp"
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
    // An access to the xAPIC page as Linux's native_apic_mem_write/read make it: the instruction
    // at RIP (MOV with a RIP-relative operand: 6 bytes), then the EPT violation at the page.
    ExitOutcome apic_access(std::uint8_t opcode, std::uint32_t offset, bool write) {
        const std::uint64_t rip = vmcs.get(Field::guest_rip);
        const std::uint8_t code[] = {opcode, 0x05, 0x00, 0x10, 0x00, 0x00};
        std::copy(std::begin(code), std::end(code), memory.begin() + static_cast<std::ptrdiff_t>(rip));
        vmcs.set(Field::guest_physical_address, vmx::x2apic::default_base + offset);
        return exit(vmx::exit_reason::ept_violation, write ? 2 : 1, 0);
    }
    ExitOutcome apic_write(std::uint32_t offset, std::uint32_t value) {
        guest.regs.rax = value;
        return apic_access(0x89, offset, true);
    }
    std::uint32_t apic_read(std::uint32_t offset) {
        guest.regs.rax = ~0ull;
        REQUIRE(apic_access(0x8b, offset, false) == ExitOutcome::resume);
        CHECK((guest.regs.rax >> 32) == 0); // a 32-bit load zero-extends
        return static_cast<std::uint32_t>(guest.regs.rax);
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
        apic_write(0xf0, 0x1ff);
        apic_write(0x350, 0x700);
        apic_write(0x320, 0xec | (2u << 17));
        for (auto [port, value] : {std::pair<std::uint16_t, std::uint8_t>{0x20, 0x11}, {0x21, 0x30}, {0x21, 0x04},
                                   {0x21, 0x01}, {0xa0, 0x11}, {0xa1, 0x38}, {0xa1, 0x02}, {0xa1, 0x01},
                                   {0x21, 0xeb}, {0xa1, 0xff}})
            out(port, value);
        vmcs.set(Field::entry_interruption_info, 0);
    }
};

} // namespace

TEST_CASE("pc exits: IA32_APIC_BASE says xAPIC at 0xFEE00000; x2APIC and moving it are #GP") {
    Linux g;
    CHECK(g.rdmsr(vmx::msr::ia32_apic_base) == 0xfee00900u);
    CHECK(g.wrmsr(vmx::msr::ia32_apic_base, 0xfee00900u) == ExitOutcome::resume);
    CHECK(g.injected_vector() == 0xff);
    CHECK(g.wrmsr(vmx::msr::ia32_apic_base, 0xfee00d00u) == ExitOutcome::resume); // EXTD
    CHECK(g.injected_vector() == vmx::vector::gp);
    g.vmcs.set(Field::entry_interruption_info, 0);
    g.guest.regs.rcx = 0x802; // the x2APIC ID MSR: not in xAPIC mode
    g.exit(vmx::exit_reason::rdmsr);
    CHECK(g.injected_vector() == vmx::vector::gp);
    g.vmcs.set(Field::entry_interruption_info, 0);
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
    CHECK(g.apic_write(0xb0, 0) == ExitOutcome::resume); // EOI
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
    g.apic_write(0x300, 0x40 | (1u << 18)); // a self-IPI (ICR, shorthand self)
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

TEST_CASE("pc exits: legacy ports answer as Linux needs: CMOS, no keyboard controller (all ones), PIC mask read-back") {
    Linux g;
    g.out(0x70, 0x0a);
    CHECK((g.in(0x71) & 0x80) == 0);
    CHECK(g.in(0x64) == 0xff);
    g.out(0x21, 0xfb);
    CHECK(g.in(0x21) == 0xfb);
    CHECK(g.in(0x2f8) == 0xff); // COM2 is not there
    CHECK(g.guest.counters.io_reads_all_ones == 1);
}

TEST_CASE("pc exits: the xAPIC page: registers read and written through decoded instructions, RIP moved past them") {
    Linux g;
    const std::uint64_t rip = g.vmcs.get(Field::guest_rip);
    CHECK(g.apic_read(0x20) == 0);                    // APIC ID 0
    CHECK(g.vmcs.get(Field::guest_rip) == rip + 6);
    CHECK((g.apic_read(0x30) & 0xff) == 0x14);        // version
    CHECK(g.apic_read(0xe0) == 0xffffffffu);          // DFR: flat model at reset
    g.apic_write(0xe0, 0x0fffffff);
    g.apic_write(0xd0, 0x01000000);                   // Linux's flat logical ID for CPU 0
    CHECK(g.apic_read(0xd0) == 0x01000000u);
    g.apic_write(0xf0, 0x1ff);
    g.apic_write(0x310, 0);                           // ICR: to APIC ID 0, fixed, vector 0xfd
    g.apic_write(0x300, 0xfd);
    CHECK(g.pc.lapic.self_ipis == 1);
    CHECK(g.pc.lapic.deliverable() == 0xfd);
    g.apic_write(0x310, 0x05000000);                  // another APIC: there is none
    g.apic_write(0x300, 0xfd);
    CHECK(g.pc.lapic.ipis_dropped == 1);
    CHECK(g.pc.counters.apic_accesses == 11);
    CHECK(g.guest.stop.reason == vmx::StopReason::none);
}

TEST_CASE("pc exits: a one-shot count written to the xAPIC page goes to the run loop") {
    Linux g;
    g.boot();
    g.apic_write(0x320, 0xef);                        // one-shot, vector 0xEF
    g.apic_write(0x3e0, 0xb);                         // divide by 1
    CHECK(g.apic_write(0x380, 1000) == ExitOutcome::timer_changed);
    CHECK(g.pc.lapic.timer_armed());
}

TEST_CASE("pc exits: an instruction on the xAPIC page that is not emulated stops the guest and names its bytes") {
    Linux g;
    g.guest.regs.rax = 1;
    // ADD [rip+disp32], eax: not something Linux does to its APIC, and not emulated.
    CHECK(g.apic_access(0x01, 0xb0, true) == ExitOutcome::stopped);
    CHECK(g.guest.stop.reason == vmx::StopReason::ept_violation);
    CHECK(std::string(g.guest.stop.detail).find("not emulated (bytes 0x1 0x5") != std::string::npos);
    CHECK(g.guest.stop.address == 0xfee000b0u);
}

TEST_CASE("pc exits: guests without a PC still stop on an access to 0xFEE00000") {
    testing_support::ExitFixture g;
    g.vmcs.set(Field::guest_physical_address, 0xfee00020u);
    CHECK(g.exit(vmx::exit_reason::ept_violation, 1, 0) == ExitOutcome::stopped);
    CHECK(g.guest.stop.reason == vmx::StopReason::ept_violation);
}

TEST_CASE("pc exits: a byte typed for the guest (console_input) is received, raises IRQ 4, and is read from RBR") {
    Linux g;
    g.boot();
    g.out(0x3fc, 0x0b); // MCR: OUT2
    g.out(0x3f9, 0x01); // IER: received data
    CHECK(vmx::pc_pending_vector(g.pc) < 0);
    CHECK(vmx::pc_receive(g.pc, 'x'));
    CHECK(vmx::pc_pending_vector(g.pc) == 0x34);
    CHECK(vmx::deliver_pc_interrupt(g.guest));
    CHECK((g.in(0x3fd) & 0x01) == 0x01); // LSR: data ready
    CHECK(g.in(0x3fa) == 0x04);           // IIR: received data
    CHECK(g.in(0x3f8) == 'x');
    CHECK((g.in(0x3fd) & 0x01) == 0x00);
    // A full FIFO takes no more: the byte is lost and counted, as on the chip.
    for (unsigned i = 0; i < vmx::Uart::fifo_size; ++i) CHECK(vmx::pc_receive(g.pc, 'a'));
    CHECK_FALSE(g.pc.uart.can_receive());
    CHECK_FALSE(vmx::pc_receive(g.pc, 'b'));
    CHECK(g.pc.uart.overruns == 1);
    CHECK(g.pc.counters.typed_bytes == 1 + vmx::Uart::fifo_size); // only the bytes it took
}

TEST_CASE("pc exits: an interactive guest's unfinished line is handed on as a piece, the rest as the line") {
    Linux g;
    g.boot();
    for (char c : std::string("~ # ")) g.out(0x3f8, static_cast<std::uint8_t>(c));
    CHECK(g.platform.lines.empty());
    vmx::console_piece(g.guest);
    vmx::console_piece(g.guest); // nothing new: nothing handed on
    for (char c : std::string("echo\n")) g.out(0x3f8, static_cast<std::uint8_t>(c));
    REQUIRE(g.platform.lines.size() == 2);
    CHECK(g.platform.lines[0] == "linux+ ~ # ");
    CHECK(g.platform.lines[1] == "linux: echo");
    CHECK(g.guest.console.pieces == 1);
}

TEST_CASE("pc exits: terminal escape sequences in a guest's output are dropped whole; other control bytes become '?'") {
    Linux g;
    g.boot();
    for (char c : std::string("/ # \x1b[6nls \x1b[1;32mok\x1b[0m\x1b" "c\x07!\n")) g.out(0x3f8, static_cast<std::uint8_t>(c));
    REQUIRE(g.platform.lines.size() == 1);
    CHECK(g.platform.lines[0] == "linux: / # ls ok?!");
    CHECK(g.guest.console.escape == 0);
}
