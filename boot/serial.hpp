// COM1 output by polling the UART directly: works before, during and after anything the
// firmware does, and from VMX root where UEFI must not be called.
//
// Two ways to write. write() waits for the UART before every byte: right for the banner and the
// report. While guests run, nothing may wait on a UART (in Bochs one byte takes ~87 us of
// emulated time at 115200 baud, which would move other guests' slices), so guest console lines
// are queued into a ring and pump() sends what the UART can take right now, without waiting;
// write() first drains the queue, so lines stay in order.
//
// The ring is shared fairly: each of the `owners` (guests) may have at most its share of it
// queued at any time (the ring's size / owners). A guest that writes faster than the UART can
// send loses its own later lines, counted; the others' lines still fit and keep their order.
#pragma once
#include <cstddef>
#include <cstdint>

namespace boot::serial {

// Writes n bytes to COM1, turning "\n" into "\r\n" (a bare LF leaves terminals mid-line).
void write(const char* s, std::size_t n);

// How many owners share the queue from now on (at least 1); each gets an equal share.
void share_queue(std::size_t owners);
// Queues one whole line of `owner` (same "\n" rule). False, with nothing queued, when it does
// not fit in that owner's share of the ring.
bool queue_line(std::size_t owner, const char* s, std::size_t n);
// Sends queued bytes while the transmitter is ready, at most a few; never waits.
void pump();
// Sends everything queued, waiting for the UART as write() does.
void flush();
// Bytes of lines dropped because their owner's share was full, in all.
std::uint64_t dropped_bytes();

} // namespace boot::serial
