// Output for people and for the host tool: every line goes to COM1 (which the tool reads) and
// to the UEFI console (the screen of a real machine), except the firmware's own serial console,
// which would repeat every line on COM1. UTF-8 in, UTF-16 to the firmware.
#pragma once
#include <cstddef>

namespace vmx {
class Text;
}

namespace boot {

// Writes s as is; lines end with '\n'.
void print(const char* s);
void print(const char* s, std::size_t n);
// Writes the text, then a '\n' if it does not end with one.
void print_line(const vmx::Text& text);
void print_line(const char* s);

// The UEFI half alone, for when COM1 already has the text (not used by print()).
void console_write(const char* s, std::size_t n);

} // namespace boot
