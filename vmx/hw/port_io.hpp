// Port I/O: IN/OUT of 8, 16 and 32 bits. Used for the COM1 UART, Bochs' shutdown port (0x8900)
// and QEMU's isa-debug-exit port (0xF4). Header-only inline assembly; "memory" clobbers keep the
// compiler from reordering buffer writes around device accesses.
#pragma once
#include <cstdint>

namespace vmx::hw {

inline void outb(std::uint16_t port, std::uint8_t v) {
    asm volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

inline void outw(std::uint16_t port, std::uint16_t v) {
    asm volatile("outw %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

inline void outl(std::uint16_t port, std::uint32_t v) {
    asm volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

inline std::uint8_t inb(std::uint16_t port) {
    std::uint8_t v;
    asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
    return v;
}

inline std::uint16_t inw(std::uint16_t port) {
    std::uint16_t v;
    asm volatile("inw %1, %0" : "=a"(v) : "Nd"(port) : "memory");
    return v;
}

inline std::uint32_t inl(std::uint16_t port) {
    std::uint32_t v;
    asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
    return v;
}

} // namespace vmx::hw
