#include "boot/serial.hpp"

#include "vmx/hw/cpu.hpp"
#include "vmx/hw/port_io.hpp"

#include <cstdint>

namespace boot::serial {
namespace {

// The firmware has already programmed COM1 (OVMF uses it for its own console at 115200 8N1), so
// we only transmit and leave the line settings alone.
constexpr std::uint16_t com1 = 0x3f8;
constexpr std::uint16_t line_status = com1 + 5;
constexpr std::uint8_t transmit_holding_empty = 1u << 5;
// One byte takes ~87 us at 115200 baud. The bound keeps a missing or stuck UART from hanging
// the hypervisor: after it we write anyway and lose at most that byte.
constexpr std::uint32_t max_polls = 1000000;

void put(char c) {
    // Bochs drops bytes written while the transmitter is busy: poll before every byte.
    for (std::uint32_t i = 0; i < max_polls; ++i) {
        if ((vmx::hw::inb(line_status) & transmit_holding_empty) != 0) break;
        vmx::hw::pause();
    }
    vmx::hw::outb(com1, static_cast<std::uint8_t>(c));
}

} // namespace

void write(const char* s, std::size_t n) {
    char previous = '\0';
    for (std::size_t i = 0; i < n; ++i) {
        if (s[i] == '\n' && previous != '\r') put('\r');
        put(s[i]);
        previous = s[i];
    }
}

} // namespace boot::serial
