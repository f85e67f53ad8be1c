// COM1 output by polling the UART directly: works before, during and after anything the
// firmware does, and from VMX root where UEFI must not be called.
//
// Two ways to write. write() waits for the UART before every byte: right for the banner and the
// report. While guests run, nothing may wait on a UART (in Bochs one byte takes ~87 us of
// emulated time at 115200 baud, which would move other guests' slices), so guest console lines
// are queue()d into a ring and pump() sends what the UART can take right now, without waiting;
// write() first drains the queue, so lines stay in order.
#pragma once
#include <cstddef>
#include <cstdint>

namespace boot::serial {

// Writes n bytes to COM1, turning "\n" into "\r\n" (a bare LF leaves terminals mid-line).
void write(const char* s, std::size_t n);

// Appends to the ring (same "\n" rule); bytes that do not fit are dropped and counted.
void queue(const char* s, std::size_t n);
// Sends queued bytes while the transmitter is ready, at most a few; never waits.
void pump();
// Sends everything queued, waiting for the UART as write() does.
void flush();
std::uint64_t dropped_bytes();

} // namespace boot::serial
