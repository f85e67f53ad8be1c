#include "vmx/devices/console.hpp"

#include "vmx/run/platform.hpp"
#include "vmx/run/vcpu.hpp"

namespace vmx {

void console_put(Vcpu& guest, char c) {
    ++guest.counters.console_bytes;
    ConsoleBuffer& b = guest.console;
    if (c == '\r') return;
    if (c != '\n') {
        const auto printable = static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
        b.text[b.length++] = printable ? c : '?';
    }
    if (c == '\n' || b.length == ConsoleBuffer::capacity) {
        b.text[b.length] = '\0';
        char* keep = b.last[b.lines % ConsoleBuffer::history];
        for (std::size_t i = 0; i <= b.length; ++i) keep[i] = b.text[i];
        ++b.lines;
        if (!platform::console_line(guest, b.text)) {
            ++guest.counters.console_lines_dropped;
            guest.counters.console_bytes_dropped += b.length + 1; // its newline too
        }
        b.length = 0;
    }
}

void console_piece(Vcpu& guest) {
    ConsoleBuffer& b = guest.console;
    if (b.length == 0) return;
    b.text[b.length] = '\0';
    ++b.pieces;
    if (!platform::console_line(guest, b.text, false)) {
        ++guest.counters.console_lines_dropped;
        guest.counters.console_bytes_dropped += b.length;
    }
    b.length = 0;
}

} // namespace vmx
