// The line-buffered console: one console-write hypercall per line instead of one port exit per
// byte. Port 0xE9 is the fallback when the hypercall is refused.
#include "runtime/guest.hpp"

namespace {

char g_line[256];
std::size_t g_used = 0;
bool g_use_port = false;

void port_write(const char* bytes, std::size_t length) {
    for (std::size_t i = 0; i < length; ++i)
        asm volatile("outb %0, %1" ::"a"(bytes[i]), "Nd"(metronome::abi::console_port));
}

void emit(const char* bytes, std::size_t length) {
    if (length == 0) return;
    if (!g_use_port) {
        // Guest memory is identity-mapped: the address of the buffer is its GPA.
        const std::uint64_t result =
            guest::hypercall(metronome::abi::Hypercall::console_write,
                             reinterpret_cast<std::uint64_t>(bytes), length);
        if (result == metronome::abi::hypercall_ok) return;
        g_use_port = true;
    }
    port_write(bytes, length);
}

} // namespace

namespace guest {

void console_flush() {
    emit(g_line, g_used);
    g_used = 0;
}

void print_char(char c) {
    g_line[g_used++] = c;
    if (c == '\n' || g_used == sizeof g_line) console_flush();
}

void console_write(const char* bytes, std::size_t length) {
    for (std::size_t i = 0; i < length; ++i)
        print_char(bytes[i]);
}

void print(const char* text) {
    while (*text != '\0')
        print_char(*text++);
}

void console_line(const char* text) {
    print(text);
    print_char('\n');
}

void print_dec(std::uint64_t value) {
    char digits[20];
    std::size_t n = 0;
    do {
        digits[n++] = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (n > 0)
        print_char(digits[--n]);
}

void print_hex(std::uint64_t value) {
    print("0x");
    int shift = 60;
    while (shift > 0 && (value >> shift) == 0)
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        print_char("0123456789abcdef"[(value >> shift) & 0xF]);
}

} // namespace guest
