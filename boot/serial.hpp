// COM1 output by polling the UART directly: works before, during and after anything the
// firmware does, and from VMX root where UEFI must not be called.
//
// Nothing may wait on the UART when time matters: at 115200 baud one byte takes ~87 us (in Bochs
// ~87,000 instructions at ips=10^9), so the ~2.5 KB that metronome.efi prints before the first VM
// entry would cost ~200 million instructions of waiting, and while guests run a wait would move
// their slices. So text is queued into a ring and pump() sends what the UART can take right now
// without waiting (the run loop calls it between slices); flush() and write() wait for it.
//
// Two kinds of text share the ring, in the order it was queued:
//   - the hypervisor's own (queue()): never dropped; when the ring has no room for it, queue()
//     waits for the UART like write();
//   - the guests' console lines (queue_line()): each of the `owners` (guests) may have at most its
//     share queued at any time (what the ring had free at share_queue(), less a few KiB kept for
//     the hypervisor, / owners), and the hypervisor's text never takes a share's room. A guest that writes faster than the UART can
//     send loses its own later lines, counted; the others' lines still fit and keep their order.
// Queued text is on COM1 only once it has been sent: a machine that dies before loses the rest.
#pragma once
#include <cstddef>
#include <cstdint>

namespace boot::serial {

// Writes n bytes to COM1, turning "\n" into "\r\n" (a bare LF leaves terminals mid-line),
// after everything queued; waits for the UART.
void write(const char* s, std::size_t n);
// Queues n bytes of the hypervisor's own text (same "\n" rule) without waiting, unless the ring
// has no room left beyond the guests' shares: then it waits like write().
void queue(const char* s, std::size_t n);

// How many owners share the queue from now on (at least 1); each gets an equal share of what the
// ring has free now.
void share_queue(std::size_t owners);
// Queues one whole line of `owner` (same "\n" rule). False, with nothing queued, when it does
// not fit in that owner's share of the ring.
bool queue_line(std::size_t owner, const char* s, std::size_t n);
// Sends a few queued bytes if the transmitter has room: with its FIFO on, as OVMF leaves it, all
// of them on one look at the line status; without, a look per byte. Never waits.
void pump();
// TSC ticks the UART takes to send one burst of pump() (its FIFO's worth, or one byte) at the
// line settings the firmware left (read from its line control and divisor latch once, at
// set-up): a look at it sooner after the last finds no room, so the slice switch looks no more
// often (vmx/hw/guest_switch.hpp). 0 where the settings read back as nonsense (divisor 0): then
// every switch looks.
std::uint64_t burst_ticks(std::uint64_t tsc_hz);
// Sends everything queued, waiting for the UART as write() does.
void flush();
// Bytes of lines dropped because their owner's share was full, in all.
std::uint64_t dropped_bytes();

// Input (console_input: what is typed goes to one guest). open_input() turns the UART's receive
// FIFO on, so bytes that arrive between two looks wait in it instead of overrunning one
// holding register; input_waiting() says whether a byte is there; receive() takes one, or -1.
// None of them waits.
void open_input();
bool input_waiting();
int receive();

} // namespace boot::serial
