// The 16550's registers and line settings (PC16550D data sheet, "Registers", "Line Control
// Register" and "Baud Generator"), and how long the line takes to carry bytes at the settings a
// UART holds. Used by the guests' UART (vmx/devices/uart.cpp) and by Metronome's own COM1 driver
// (boot/serial.cpp), which reads the firmware's settings to know when its transmitter can take
// more. Pure, constexpr.
#pragma once
#include <cstdint>

namespace vmx::uart_line {

// Register offsets from the base port. While LCR's DLAB bit is set, offsets 0 and 1 are the
// divisor latch's low and high bytes instead.
inline constexpr unsigned data = 0;              // RBR when read, THR when written
inline constexpr unsigned interrupt_enable = 1;  // IER
inline constexpr unsigned divisor_latch_low = 0; // DLL, with DLAB
inline constexpr unsigned divisor_latch_high = 1; // DLM, with DLAB
inline constexpr unsigned fifo_control = 2;      // IIR when read, FCR when written
inline constexpr unsigned line_control = 3;      // LCR
inline constexpr unsigned modem_control = 4;     // MCR
inline constexpr unsigned line_status = 5;       // LSR
inline constexpr unsigned modem_status = 6;      // MSR
inline constexpr unsigned scratch = 7;           // SCR

// LSR: a received byte waits; the transmit holding register (or FIFO) is empty.
inline constexpr std::uint8_t lsr_data_ready = 1u << 0;
inline constexpr std::uint8_t lsr_transmit_holding_empty = 1u << 5;
// IIR bits 7:6 are 11 while a 16550A's FIFOs are on; an 8250 or 16450 has none and reads 00.
inline constexpr std::uint8_t iir_fifos_on = 0xc0;

// LCR: word length 5 + bits 1:0; two stop bits (1.5 with 5-bit words) when bit 2 is set; a
// parity bit when bit 3 is; the divisor latch in place of the data and interrupt-enable
// registers (offsets 0 and 1) while bit 7 (DLAB) is.
inline constexpr std::uint8_t word_length_mask = 0x03;
inline constexpr std::uint8_t two_stop_bits = 1u << 2;
inline constexpr std::uint8_t parity_on = 1u << 3;
inline constexpr std::uint8_t divisor_latch_access = 1u << 7;
// The 1.8432 MHz clock divided by 16: the baud rate of divisor 1.
inline constexpr std::uint32_t baud_of_divisor_1 = 115200;

// Bits on the line per byte: start, data, parity, stop (1.5 counted as 2: an estimate of when a
// byte has left errs late, never early).
constexpr unsigned bits_per_byte(std::uint8_t lcr) {
    return 1u + 5u + static_cast<unsigned>(lcr & word_length_mask) +
           ((lcr & parity_on) != 0 ? 1u : 0u) + ((lcr & two_stop_bits) != 0 ? 2u : 1u);
}

// TSC ticks that `bytes` bytes take on the line at these settings, rounded up; 0 where they make
// no sense (divisor 0, or no TSC rate).
constexpr std::uint64_t transmit_ticks(std::uint8_t lcr, std::uint32_t divisor, std::uint64_t bytes, std::uint64_t tsc_hz) {
    if (divisor == 0 || tsc_hz == 0) return 0;
    // ticks = tsc_hz * bits * bytes * divisor / 115200; exact while tsc_hz * bits * bytes * divisor
    // stays below 2^64 (a 10 GHz TSC, 12 bits, 64 bytes, divisor 65535: 5 * 10^17).
    const std::uint64_t scaled = tsc_hz * bits_per_byte(lcr) * bytes * divisor;
    return (scaled + baud_of_divisor_1 - 1) / baud_of_divisor_1;
}

} // namespace vmx::uart_line
