// A 16550A UART (National Semiconductor PC16550D data sheet) at COM1's ports 0x3F8..0x3FF, IRQ 4:
// what a Linux guest's ttyS0 drives. Transmission is instant (the byte goes to the guest's
// console line at once, so the transmitter is always empty); reception takes bytes the host
// pushes into a 16-byte FIFO. Interrupts: received data and transmitter empty, in the IIR's
// priority order, on the IRQ line gated by MCR OUT2 as on a PC. Linux's probe (IER read-back,
// FIFO bits of IIR after FCR = 1: a 16550A) and its THRE tests at start-up pass. Pure.
#pragma once
#include "vmx/devices/uart_line.hpp"

#include <cstdint>

namespace vmx {

class Uart {
  public:
    static constexpr std::uint16_t com1 = 0x3f8;
    static constexpr unsigned com1_irq = 4;
    static constexpr unsigned fifo_size = 16;
    static bool owns(std::uint16_t port) { return port >= com1 && port < com1 + 8; }

    // A register read (`offset` 0..7 from the base). Reading can change state (RBR pops the FIFO,
    // IIR acknowledges a transmitter-empty interrupt).
    std::uint8_t read(unsigned offset);
    // A register write; returns true when it transmitted a byte (then `*sent` holds it).
    bool write(unsigned offset, std::uint8_t value, char* sent);
    // A byte from the host for the guest; false when the FIFO is full (the byte is lost, as on
    // the chip: overrun).
    bool receive(std::uint8_t byte);
    // The receive FIFO has room for another byte (the host holds the rest back until it has).
    bool can_receive() const { return rx_count_ < fifo_size; }
    // The guest's driver listens: the received-data interrupt is enabled (Linux's 8250 driver
    // turns it on when the port is opened). Typed bytes wait on the host's side until then.
    bool listening() const;

    // The level of the IRQ line (an interrupt is pending and OUT2 is set).
    bool irq_line() const;

    std::uint64_t bytes_sent = 0;
    std::uint64_t bytes_received = 0;
    std::uint64_t overruns = 0;

  private:
    std::uint8_t iir() const;
    bool dlab() const { return (lcr_ & uart_line::divisor_latch_access) != 0; }

    std::uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, dll_ = 0x0c, dlm_ = 0;
    bool fifo_enabled_ = false;
    bool thre_pending_ = false; // a transmitter-empty interrupt is due (until IIR is read or THR written)
    bool overrun_ = false;
    std::uint8_t rx_[fifo_size] = {};
    unsigned rx_head_ = 0, rx_count_ = 0;
};

} // namespace vmx
