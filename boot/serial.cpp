#include "boot/serial.hpp"

#include "vmx/hw/cpu.hpp"
#include "vmx/hw/port_io.hpp"

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
// Bytes pump() sends per call at most, so that one call stays a few hundred instructions.
constexpr unsigned pump_burst = 4;

constexpr std::size_t ring_size = 64 * 1024;  // a power of two
char ring[ring_size];
std::size_t ring_head = 0;  // next byte to send
std::size_t ring_tail = 0;  // next free slot
std::uint64_t dropped = 0;

bool ready() { return (vmx::hw::inb(line_status) & transmit_holding_empty) != 0; }

void put(char c) {
    // Bochs drops bytes written while the transmitter is busy: poll before every byte.
    for (std::uint32_t i = 0; i < max_polls; ++i) {
        if (ready()) break;
        vmx::hw::pause();
    }
    vmx::hw::outb(com1, static_cast<std::uint8_t>(c));
}

void ring_put(char c) {
    if (ring_tail - ring_head == ring_size) {
        ++dropped;
        return;
    }
    ring[ring_tail % ring_size] = c;
    ++ring_tail;
}

} // namespace

void write(const char* s, std::size_t n) {
    flush();
    char previous = '\0';
    for (std::size_t i = 0; i < n; ++i) {
        if (s[i] == '\n' && previous != '\r') put('\r');
        put(s[i]);
        previous = s[i];
    }
}

void queue(const char* s, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        if (s[i] == '\n') ring_put('\r');
        ring_put(s[i]);
    }
}

void pump() {
    for (unsigned i = 0; i < pump_burst && ring_head != ring_tail && ready(); ++i) {
        vmx::hw::outb(com1, static_cast<std::uint8_t>(ring[ring_head % ring_size]));
        ++ring_head;
    }
}

void flush() {
    while (ring_head != ring_tail) {
        put(ring[ring_head % ring_size]);
        ++ring_head;
    }
}

std::uint64_t dropped_bytes() { return dropped; }

} // namespace boot::serial
