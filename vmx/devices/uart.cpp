#include "vmx/devices/uart.hpp"

namespace vmx {
namespace {

// Registers by offset (vmx/devices/uart_line.hpp), and the bits only the emulation needs
// (PC16550D data sheet, "Registers").
constexpr unsigned rbr_thr = uart_line::data, ier = uart_line::interrupt_enable, iir_fcr = uart_line::fifo_control,
                   lcr = uart_line::line_control, mcr = uart_line::modem_control, lsr = uart_line::line_status,
                   msr = uart_line::modem_status, scr = uart_line::scratch;
constexpr std::uint8_t ier_rx = 0x01, ier_thre = 0x02;
constexpr std::uint8_t iir_none = 0x01, iir_thre = 0x02, iir_rx = 0x04, iir_fifo = uart_line::iir_fifos_on;
constexpr std::uint8_t lsr_data_ready = uart_line::lsr_data_ready, lsr_overrun = 0x02,
                       lsr_thre = uart_line::lsr_transmit_holding_empty, lsr_temt = 0x40;
constexpr std::uint8_t mcr_out2 = 0x08, mcr_loop = 0x10;
// Modem status with the modem "there": CTS, DSR and DCD (and no changes).
constexpr std::uint8_t msr_connected = 0xb0;

} // namespace

std::uint8_t Uart::iir() const {
    std::uint8_t id = iir_none;
    if ((ier_ & ier_rx) != 0 && rx_count_ > 0) {
        id = iir_rx;
    } else if ((ier_ & ier_thre) != 0 && thre_pending_) {
        id = iir_thre;
    }
    return static_cast<std::uint8_t>(id | (fifo_enabled_ ? iir_fifo : 0));
}

bool Uart::listening() const { return (ier_ & ier_rx) != 0; }

bool Uart::irq_line() const { return (mcr_ & mcr_out2) != 0 && (iir() & 0x0f) != iir_none; }

std::uint8_t Uart::read(unsigned offset) {
    switch (offset & 7u) {
    case rbr_thr: {
        if (dlab()) return dll_;
        if (rx_count_ == 0) return 0;
        const std::uint8_t b = rx_[rx_head_];
        rx_head_ = (rx_head_ + 1) % fifo_size;
        --rx_count_;
        return b;
    }
    case ier: return dlab() ? dlm_ : ier_;
    case iir_fcr: {
        const std::uint8_t value = iir();
        if ((value & 0x0f) == iir_thre) thre_pending_ = false; // reading IIR acknowledges it
        return value;
    }
    case lcr: return lcr_;
    case mcr: return mcr_;
    case lsr: {
        std::uint8_t value = lsr_thre | lsr_temt;
        if (rx_count_ > 0) value |= lsr_data_ready;
        if (overrun_) value |= lsr_overrun;
        overrun_ = false;
        return value;
    }
    case msr:
        if ((mcr_ & mcr_loop) != 0) { // loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD
            return static_cast<std::uint8_t>(((mcr_ & 0x01) << 5) | ((mcr_ & 0x02) << 3) | ((mcr_ & 0x04) << 4) |
                                             ((mcr_ & 0x08) << 4));
        }
        return msr_connected;
    default: return scr_;
    }
}

bool Uart::write(unsigned offset, std::uint8_t value, char* sent) {
    switch (offset & 7u) {
    case rbr_thr:
        if (dlab()) {
            dll_ = value;
            return false;
        }
        thre_pending_ = true; // sent at once: the holding register is empty again
        if ((mcr_ & mcr_loop) != 0) { // loopback: the byte comes back as received
            receive(value);
            return false;
        }
        ++bytes_sent;
        *sent = static_cast<char>(value);
        return true;
    case ier: {
        if (dlab()) {
            dlm_ = value;
            return false;
        }
        const bool thre_was_off = (ier_ & ier_thre) == 0;
        ier_ = value & 0x0f;
        // Enabling the transmitter-empty interrupt with the holding register empty raises it.
        if (thre_was_off && (ier_ & ier_thre) != 0) thre_pending_ = true;
        return false;
    }
    case iir_fcr:
        fifo_enabled_ = (value & 0x01) != 0;
        if ((value & 0x02) != 0) rx_count_ = 0;
        return false;
    case lcr: lcr_ = value; return false;
    case mcr: mcr_ = value & 0x1f; return false;
    case lsr:
    case msr: return false; // read-only (factory test registers)
    default: scr_ = value; return false;
    }
}

bool Uart::receive(std::uint8_t byte) {
    if (rx_count_ == fifo_size) {
        ++overruns;
        overrun_ = true;
        return false;
    }
    rx_[(rx_head_ + rx_count_) % fifo_size] = byte;
    ++rx_count_;
    ++bytes_received;
    return true;
}

} // namespace vmx
