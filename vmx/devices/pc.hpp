// The virtual PC of a Linux guest: the devices an unmodified kernel needs and nothing more (the
// README's Linux section says why each one): a local APIC (xAPIC) whose TSC-deadline timer is
// folded into the VMX-preemption timer, the 8259A pair for the serial port's IRQ 4 (through
// LINT0, virtual wire), a 16550A on COM1 printing to the guest's console line, the CMOS clock, and the answers
// to the legacy ports Linux probes. Guests of Metronome's own ABI have none of it
// (Vcpu::pc is null). Pure: the exit handlers call in with the port or MSR and the guest's TSC.
#pragma once
#include <cstdint>

#include "vmx/devices/cmos.hpp"
#include "vmx/devices/lapic.hpp"
#include "vmx/devices/pic.hpp"
#include "vmx/devices/uart.hpp"

namespace vmx {

struct Vcpu;

struct PcCounters {
    std::uint64_t timer_armed = 0;      // deadlines (and counts) the guest programmed
    std::uint64_t timer_fired = 0;      // expiries that requested the timer's interrupt
    std::uint64_t timer_injected = 0;   // the timer's vector injected into the guest
    std::uint64_t interrupts = 0;       // external interrupts injected (APIC and PIC)
    std::uint64_t pic_interrupts = 0;   // of them, from the 8259 (ExtINT)
    std::uint64_t reset_attempts = 0;   // writes to ports that reset a PC (0x64, 0xCF9, 0x92)
    std::uint64_t apic_accesses = 0;    // reads and writes of the xAPIC page (EPT violations)
    std::uint64_t typed_bytes = 0;      // bytes typed for it (console_input) that its UART took
};

struct PcPlatform {
    Lapic lapic;
    Pic pic;
    Uart uart;
    Cmos cmos;
    bool uart_line = false;   // the UART's IRQ line at the last look: a rise is an edge to the PIC
    std::uint64_t tsc_hz = 0; // for the CMOS clock
    PcCounters counters;
};

// What an I/O access to the PC's ports did.
enum class PcPort : std::uint8_t {
    done,
    reset,      // the guest asked the PC to reset (keyboard controller 0xFE, 0xCF9, port 0x92)
};

// IN of `size` bytes from `port` (any port: the ones no device owns read all ones). `guest_tsc` is
// the guest's own TSC now.
std::uint32_t pc_in(Vcpu& guest, std::uint16_t port, unsigned size, std::uint64_t guest_tsc);
// OUT of `size` bytes of `value` to `port`.
PcPort pc_out(Vcpu& guest, std::uint16_t port, unsigned size, std::uint32_t value, std::uint64_t guest_tsc);

// A byte typed for the guest (console_input) arrives at its UART: received, and IRQ 4 raised
// when the UART's line rises. False when the receive FIFO was full (the byte is lost: overrun).
bool pc_receive(PcPlatform& pc, std::uint8_t byte);

// The vector the platform presents to the processor now, or -1: the local APIC's highest
// deliverable request, else the 8259's through LINT0 when LINT0 is in ExtINT mode.
int pc_pending_vector(const PcPlatform& pc);
// The processor takes it (VM entry injects it): the APIC moves it to in-service, or the 8259
// is acknowledged. Returns the vector taken, or -1.
int pc_take_interrupt(PcPlatform& pc);

} // namespace vmx
