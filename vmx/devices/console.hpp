// The guest console (guest/ABI.md section 6): bytes from port 0xE9 and the console-write hypercall
// are collected per guest and handed on one line at a time, prefixed with the guest's name by the
// output side (boot/: COM1). A device with no register state: a line buffer per guest.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vmx {

struct Vcpu;

struct ConsoleBuffer {
    static constexpr std::size_t capacity = 120; // longer lines are cut here and continue
    static constexpr std::size_t history = 4;    // the last complete lines, kept for the report
    char text[capacity + 1] = {};
    std::size_t length = 0;
    char last[history][capacity + 1] = {};
    std::size_t lines = 0;                       // complete lines so far
    std::uint64_t pieces = 0;                    // starts of lines handed on early (console_piece)
    std::uint8_t escape = 0;                     // inside a terminal escape sequence (console_put)

    // The `age`-th most recent complete line, oldest first over age = 0..history-1 (null where
    // there were fewer lines).
    const char* recent(std::size_t age) const {
        const std::size_t kept = lines < history ? lines : history;
        if (age >= kept) return nullptr;
        return last[(lines - kept + age) % history];
    }
};

// Appends one byte of guest output: '\n' completes the line, '\r' is dropped, terminal escape
// sequences (ESC [ parameters final, or ESC and one byte: ECMA-48 "Control functions") are
// dropped whole (they are meant for a terminal the console is not, e.g. a shell asking for the
// cursor position), other unprintable bytes become '?', and a full buffer is handed on as a line. A line the output side refuses
// (the guest's share of the queue is full) is counted as dropped.
void console_put(Vcpu& guest, char c);
// An interactive guest (console_input) is waiting for its user: the line it has begun (a prompt,
// the echo of what was typed) is handed on now as a piece instead of when it ends; its rest
// follows as another piece or as the line. Nothing when the line is empty.
void console_piece(Vcpu& guest);

} // namespace vmx
