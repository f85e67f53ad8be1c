// Output for the host tool and for people. Everything metronome.efi reports (the banner, the
// capability report, the run's table and JSON) goes to COM1, which the tool reads; the firmware's
// console (the screen of a real machine) gets one line saying so, and every error, so that a user
// without a serial cable still sees why a run refused. The firmware's own serial console is left
// out: it would repeat every line on COM1. UTF-8 in, UTF-16 to the firmware.
//
// COM1 text is queued (boot/serial.hpp): printing never waits for the UART, so the ~200 million
// instructions that 115200 baud costs the text before the first VM entry are spent while the guests
// run instead of before. finish_output() waits until everything has left.
#pragma once
#include <cstddef>

namespace vmx {
class Text;
}

namespace boot {

// COM1: writes s as is (lines end with '\n').
void print(const char* s);
void print(const char* s, std::size_t n);
// COM1: the text, then a '\n' if it does not end with one.
void print_line(const vmx::Text& text);
void print_line(const char* s);

// The firmware's screen console only, with a '\n' (never while the TPL is raised for the run).
void show_line(const char* s);
// An error: print_line on COM1 and show_line on the screen.
void print_error(const vmx::Text& text);
void print_error(const char* s);

// Waits until COM1 has sent everything queued: before the run ends or returns to the firmware.
void finish_output();

} // namespace boot
