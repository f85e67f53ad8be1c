#include "vmx/devices/pc.hpp"

#include "vmx/devices/console.hpp"
#include "vmx/run/vcpu.hpp"

namespace vmx {
namespace {

// Legacy ports (IBM PC/AT and chipset conventions).
constexpr std::uint16_t keyboard_data = 0x60, keyboard_status = 0x64, system_control_b = 0x61;
constexpr std::uint16_t reset_control = 0xcf9, system_control_a = 0x92;
constexpr std::uint8_t keyboard_pulse_reset = 0xfe;
constexpr std::uint32_t cf9_reset = 1u << 2, port92_reset = 1u << 0;
constexpr std::uint32_t all_ones = 0xffffffffu;

std::uint32_t mask_for(unsigned size) { return size >= 4 ? all_ones : (1u << (8 * size)) - 1; }

// After the UART changed: an edge on IRQ 4 when its line rose.
void sync_uart_line(PcPlatform& pc) {
    const bool line = pc.uart.irq_line();
    if (line && !pc.uart_line) pc.pic.raise(Uart::com1_irq);
    pc.uart_line = line;
}

std::uint64_t guest_seconds(const PcPlatform& pc, std::uint64_t guest_tsc) {
    return pc.tsc_hz == 0 ? 0 : guest_tsc / pc.tsc_hz;
}

} // namespace

std::uint32_t pc_in(Vcpu& guest, std::uint16_t port, unsigned size, std::uint64_t guest_tsc) {
    PcPlatform& pc = *guest.pc;
    std::uint32_t value = all_ones;
    if (Pic::owns(port)) {
        value = pc.pic.read(port);
    } else if (Uart::owns(port)) {
        value = pc.uart.read(port - Uart::com1);
        sync_uart_line(pc);
    } else if (Cmos::owns(port)) {
        value = pc.cmos.read(port, guest_seconds(pc, guest_tsc));
    } else if (port == keyboard_status || port == keyboard_data) {
        // No keyboard controller: the floating bus. Linux's i8042 probe then sees a status that
        // never empties and gives up at once ("No controller found") instead of waiting 0.5 s
        // for a controller that does not answer.
        value = 0xff;
    } else if (port == system_control_b || port == reset_control) {
        value = 0; // no NMI sources in 0x61
    } else if (port == system_control_a) {
        value = 0x02; // A20 on
    } else {
        ++guest.counters.io_reads_all_ones;
    }
    return value & mask_for(size);
}

PcPort pc_out(Vcpu& guest, std::uint16_t port, unsigned size, std::uint32_t value, std::uint64_t) {
    PcPlatform& pc = *guest.pc;
    const auto byte = static_cast<std::uint8_t>(value);
    if (Pic::owns(port)) {
        pc.pic.write(port, byte);
    } else if (Uart::owns(port)) {
        char sent = 0;
        if (pc.uart.write(port - Uart::com1, byte, &sent)) console_put(guest, sent);
        sync_uart_line(pc);
    } else if (Cmos::owns(port)) {
        pc.cmos.write(port, byte);
    } else if ((port == keyboard_status && byte == keyboard_pulse_reset) ||
               (port == reset_control && (value & cf9_reset) != 0) ||
               (port == system_control_a && (value & port92_reset) != 0)) {
        ++pc.counters.reset_attempts;
        return PcPort::reset;
    } else if (port != keyboard_status && port != reset_control && port != system_control_a) {
        ++guest.counters.io_writes_dropped;
    }
    (void)size;
    return PcPort::done;
}

bool pc_receive(PcPlatform& pc, std::uint8_t byte) {
    const bool taken = pc.uart.receive(byte);
    if (taken) ++pc.counters.typed_bytes;
    sync_uart_line(pc);
    return taken;
}

int pc_pending_vector(const PcPlatform& pc) {
    const int apic = pc.lapic.deliverable();
    if (apic >= 0) return apic;
    if (pc.lapic.lint0_extint()) return pc.pic.pending();
    return -1;
}

int pc_take_interrupt(PcPlatform& pc) {
    const int apic = pc.lapic.deliverable();
    if (apic >= 0) {
        pc.lapic.accept(static_cast<std::uint8_t>(apic));
        ++pc.counters.interrupts;
        return apic;
    }
    if (!pc.lapic.lint0_extint()) return -1;
    const int vector = pc.pic.acknowledge();
    if (vector >= 0) {
        ++pc.counters.interrupts;
        ++pc.counters.pic_interrupts;
    }
    return vector;
}

} // namespace vmx
