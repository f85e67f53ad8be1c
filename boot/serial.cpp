#include "boot/serial.hpp"

#include "vmx/devices/uart_line.hpp"
#include "vmx/hw/cpu.hpp"
#include "vmx/hw/port_io.hpp"
#include "vmx/lib/guest_limit.hpp"
#include "vmx/lib/spin_lock.hpp"

namespace boot::serial {
namespace {

// The firmware has already programmed COM1 (OVMF uses it for its own console at 115200 8N1), so
// we only transmit and leave the line settings alone.
constexpr std::uint16_t com1 = 0x3f8;
namespace line = vmx::uart_line;
constexpr std::uint16_t data = com1 + line::data;
constexpr std::uint16_t fifo_control = com1 + line::fifo_control;       // FCR when written
constexpr std::uint16_t interrupt_identity = com1 + line::fifo_control; // IIR when read
constexpr std::uint8_t fifos_on_mask = line::iir_fifos_on;
constexpr std::uint16_t line_control = com1 + line::line_control;
constexpr std::uint16_t line_status = com1 + line::line_status;
constexpr std::uint8_t transmit_holding_empty = line::lsr_transmit_holding_empty;
constexpr std::uint8_t data_ready = line::lsr_data_ready;
// FCR: FIFOs on, the receive FIFO cleared (PC16550D data sheet, "FIFO Control Register"); the
// transmit FIFO is left as it is, with what it still has to send.
constexpr std::uint8_t fifo_on_receive_cleared = 0x03;
// One byte takes ~87 us at 115200 baud. The bound keeps a missing or stuck UART from hanging
// the hypervisor: after it we write anyway and lose at most that byte.
constexpr std::uint32_t max_polls = 1000000;
// Bytes pump() sends per call at most, so that one call stays a few dozen instructions. With the
// transmit FIFO on (16 bytes) they are written at once when the UART says it has room: THRE then
// means the FIFO is empty. Without it each needs a look of its own.
constexpr unsigned pump_burst = 4;

constexpr std::size_t ring_size = 64 * 1024;  // a power of two
char ring[ring_size];
std::size_t ring_head = 0;  // next byte to send
std::size_t ring_settled = 0;  // the bytes before it have been given back to their lines' owners
std::size_t ring_tail = 0;  // next free slot
std::uint64_t dropped = 0;

// The lines in the ring, oldest first: whose and how long, so that an owner's share is given
// back as its bytes leave.
struct QueuedLine {
    std::uint32_t owner;
    std::uint32_t length;
};
constexpr std::size_t max_owners = vmx::max_guests; // one owner per guest
constexpr std::uint32_t hypervisor = UINT32_MAX; // the owner of queue()'s text: no share
constexpr std::size_t line_slots = 4096;  // a power of two
QueuedLine lines[line_slots];
std::size_t line_head = 0, line_tail = 0;
std::size_t head_line_sent = 0;  // bytes of the oldest line already sent
std::size_t owner_queued[max_owners];
std::size_t owner_share = ring_size;
std::size_t owner_count = 0;
// Kept out of the guests' shares: the hypervisor's own lines while the guests run (set-up and
// end-of-run lines, a few hundred bytes) are queued without waiting for the text before them.
constexpr std::size_t hypervisor_room = 4096;
std::size_t owners_queued = 0; // the sum of owner_queued

// Every CPU's guests queue lines; the boot CPU sends them (and so may another CPU's hypervisor
// text): the ring and the UART are taken by one at a time, a line at a time, so no two lines
// interleave.
vmx::SpinLock g_lock;

bool ready() { return (vmx::hw::inb(line_status) & transmit_holding_empty) != 0; }

// Whether the transmit FIFO is on, read once from the UART as the firmware left it (OVMF turns
// the FIFOs on; Metronome never turns them on itself, which would drop what they hold).
enum class TxFifo : std::uint8_t { unknown, on, off };
TxFifo tx_fifo = TxFifo::unknown;
bool tx_fifo_on() {
    if (tx_fifo == TxFifo::unknown)
        tx_fifo = (vmx::hw::inb(interrupt_identity) & fifos_on_mask) == fifos_on_mask ? TxFifo::on : TxFifo::off;
    return tx_fifo == TxFifo::on;
}

void put(char c) {
    // Bochs drops bytes written while the transmitter is busy: poll before every byte.
    for (std::uint32_t i = 0; i < max_polls; ++i) {
        if (ready()) break;
        vmx::hw::pause();
    }
    vmx::hw::outb(data, static_cast<std::uint8_t>(c));
}

void ring_put(char c) {
    ring[ring_tail % ring_size] = c;
    ++ring_tail;
}

// The bytes sent since the last look have left: the lines they end give their owners' shares
// back. Done when a line is queued (where the shares are read), not per byte sent, so that
// sending stays a few instructions a byte.
void settle_sent() {
    std::size_t n = ring_head - ring_settled;
    ring_settled = ring_head;
    while (n != 0 && line_head != line_tail) {
        QueuedLine& l = lines[line_head % line_slots];
        const std::size_t rest = l.length - head_line_sent;
        if (n < rest) {
            head_line_sent += n;
            return;
        }
        n -= rest;
        if (l.owner != hypervisor) {
            owner_queued[l.owner] -= l.length;
            owners_queued -= l.length;
        }
        head_line_sent = 0;
        ++line_head;
    }
}

// A "\n" gets a "\r" before it unless it has one (write()'s rule).
bool needs_cr(const char* s, std::size_t i) {
    return s[i] == '\n' && (i == 0 || s[i - 1] != '\r');
}

// Bytes a line takes in the ring.
std::size_t ring_bytes(const char* s, std::size_t n) {
    std::size_t bytes = n;
    for (std::size_t i = 0; i < n; ++i)
        if (needs_cr(s, i)) ++bytes;
    return bytes;
}

void ring_line(std::uint32_t owner, const char* s, std::size_t n, std::size_t bytes) {
    for (std::size_t i = 0; i < n; ++i) {
        if (needs_cr(s, i)) ring_put('\r');
        ring_put(s[i]);
    }
    lines[line_tail % line_slots] = QueuedLine{owner, static_cast<std::uint32_t>(bytes)};
    ++line_tail;
}

// Sends what the UART takes now, up to pump_burst bytes; the ring is not empty and the UART has
// just said it is ready.
void send_burst() {
    if (tx_fifo_on()) {
        std::size_t head = ring_head;
        const std::size_t end = ring_tail - head < pump_burst ? ring_tail : head + pump_burst;
        for (; head != end; ++head) vmx::hw::outb(data, static_cast<std::uint8_t>(ring[head % ring_size]));
        ring_head = head;
        return;
    }
    unsigned sent = 0;
    do {
        vmx::hw::outb(data, static_cast<std::uint8_t>(ring[ring_head % ring_size]));
        ++ring_head;
        ++sent;
    } while (sent < pump_burst && ring_head != ring_tail && ready());
}

void pump_unlocked() {
    if (ring_head != ring_tail && ready()) send_burst();
}

void flush_unlocked() {
    while (ring_head != ring_tail) {
        put(ring[ring_head % ring_size]);
        ++ring_head;
    }
    settle_sent();
}

void write_unlocked(const char* s, std::size_t n) {
    flush_unlocked();
    char previous = '\0';
    for (std::size_t i = 0; i < n; ++i) {
        if (s[i] == '\n' && previous != '\r') put('\r');
        put(s[i]);
        previous = s[i];
    }
}

} // namespace

void write(const char* s, std::size_t n) {
    vmx::SpinLockHeld held(g_lock);
    write_unlocked(s, n);
}

void queue(const char* s, std::size_t n) {
    vmx::SpinLockHeld held(g_lock);
    settle_sent();
    const std::size_t bytes = ring_bytes(s, n);
    // The room promised to the guests and not used by them now is not the hypervisor's.
    const std::size_t promised = owner_share * owner_count - owners_queued;
    if ((ring_tail - ring_head) + bytes + promised > ring_size || line_tail - line_head == line_slots) {
        write_unlocked(s, n);
        return;
    }
    ring_line(hypervisor, s, n, bytes);
    pump_unlocked();
}

void share_queue(std::size_t owners) {
    vmx::SpinLockHeld held(g_lock);
    settle_sent();
    if (owners == 0) owners = 1;
    if (owners > max_owners) owners = max_owners;
    const std::size_t free = ring_size - (ring_tail - ring_head);
    owner_share = (free > hypervisor_room ? free - hypervisor_room : 0) / owners;
    owner_count = owners;
}

bool queue_line(std::size_t owner, const char* s, std::size_t n) {
    vmx::SpinLockHeld held(g_lock);
    settle_sent();
    const std::size_t bytes = ring_bytes(s, n);
    if (owner >= max_owners || owner_queued[owner] + bytes > owner_share ||
        ring_size - (ring_tail - ring_head) < bytes || line_tail - line_head == line_slots) {
        dropped += bytes;
        return false;
    }
    ring_line(static_cast<std::uint32_t>(owner), s, n, bytes);
    owner_queued[owner] += bytes;
    owners_queued += bytes;
    return true;
}

void pump() {
    // An empty ring, or a UART still sending, is seen without the lock (a stale answer only
    // delays the next byte a slice).
    if (__atomic_load_n(&ring_head, __ATOMIC_RELAXED) == __atomic_load_n(&ring_tail, __ATOMIC_RELAXED) || !ready()) return;
    vmx::SpinLockHeld held(g_lock);
    if (ring_head != ring_tail) send_burst();
}

std::uint64_t burst_ticks(std::uint64_t tsc_hz) {
    // The divisor latch is read with DLAB set, and LCR put back as the firmware left it.
    const std::uint8_t lcr = vmx::hw::inb(line_control);
    vmx::hw::outb(line_control, lcr | line::divisor_latch_access);
    const std::uint32_t divisor = vmx::hw::inb(com1 + line::divisor_latch_low) |
                                  (static_cast<std::uint32_t>(vmx::hw::inb(com1 + line::divisor_latch_high)) << 8);
    vmx::hw::outb(line_control, lcr);
    // A burst is pump_burst bytes into the FIFO, or one byte without it (send_burst).
    return line::transmit_ticks(lcr, divisor, tx_fifo_on() ? pump_burst : 1, tsc_hz);
}

void flush() {
    vmx::SpinLockHeld held(g_lock);
    flush_unlocked();
}

std::uint64_t dropped_bytes() { return dropped; }

void open_input() { vmx::hw::outb(fifo_control, fifo_on_receive_cleared); }

bool input_waiting() { return (vmx::hw::inb(line_status) & data_ready) != 0; }

int receive() { return input_waiting() ? vmx::hw::inb(data) : -1; }

} // namespace boot::serial
