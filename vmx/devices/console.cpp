#include "vmx/devices/console.hpp"

#include "vmx/run/platform.hpp"
#include "vmx/run/vcpu.hpp"

namespace vmx {

namespace {

constexpr char escape_byte = '\x1b';
constexpr std::uint8_t after_escape = 1, in_control_sequence = 2;

// Whether `c` belongs to the escape sequence being dropped (and ends or continues it).
bool swallowed_by_escape(ConsoleBuffer& b, char c) {
    const auto u = static_cast<unsigned char>(c);
    if (b.escape == after_escape) {
        b.escape = c == '[' ? in_control_sequence : 0;
        return true;
    }
    if (b.escape == in_control_sequence) {
        if (u >= 0x20 && u <= 0x3f) return true; // parameter and intermediate bytes
        b.escape = 0;
        return u >= 0x40 && u <= 0x7e;           // the final byte; anything else ends it unused
    }
    if (c == escape_byte) {
        b.escape = after_escape;
        return true;
    }
    return false;
}

// The buffered text goes to the output side, whole (`complete`: a line, sent with its newline) or
// as a piece; what the output side refuses is counted as dropped. The buffer is empty after.
void hand_on(Vcpu& guest, bool complete) {
    ConsoleBuffer& b = guest.console;
    b.text[b.length] = '\0';
    if (!platform::console_line(guest, b.text, complete)) {
        ++guest.counters.console_lines_dropped;
        guest.counters.console_bytes_dropped += b.length + (complete ? 1 : 0); // a line's newline too
    }
    b.length = 0;
}

} // namespace

void console_put(Vcpu& guest, char c) {
    ++guest.counters.console_bytes;
    ConsoleBuffer& b = guest.console;
    if (swallowed_by_escape(b, c) || c == '\r') return;
    if (c != '\n') {
        const auto printable = static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
        b.text[b.length++] = printable ? c : '?';
    }
    if (c == '\n' || b.length == ConsoleBuffer::capacity) {
        b.text[b.length] = '\0';
        char* keep = b.last[b.lines % ConsoleBuffer::history];
        for (std::size_t i = 0; i <= b.length; ++i) keep[i] = b.text[i];
        ++b.lines;
        hand_on(guest, true);
    }
}

void console_piece(Vcpu& guest) {
    ConsoleBuffer& b = guest.console;
    if (b.length == 0) return;
    ++b.pieces;
    hand_on(guest, false);
}

} // namespace vmx
