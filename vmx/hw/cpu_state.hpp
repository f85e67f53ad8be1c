// Privileged reads and writes of CPU state the VMX shell saves, builds its host state from, and
// switches between guests: descriptor tables, selectors, debug registers, CR2/CR3, XCR0 and the
// FPU/SSE/AVX state. Header-only inline assembly, target only; no decisions live here.
#pragma once
#include <cstdint>

namespace vmx::hw {

struct [[gnu::packed]] DescriptorTablePointer {
    std::uint16_t limit;
    std::uint64_t base;
};

inline DescriptorTablePointer sgdt() {
    DescriptorTablePointer p{};
    asm volatile("sgdt %0" : "=m"(p));
    return p;
}
inline DescriptorTablePointer sidt() {
    DescriptorTablePointer p{};
    asm volatile("sidt %0" : "=m"(p));
    return p;
}
inline void lgdt(const DescriptorTablePointer& p) { asm volatile("lgdt %0" : : "m"(p) : "memory"); }
inline void lidt(const DescriptorTablePointer& p) { asm volatile("lidt %0" : : "m"(p) : "memory"); }
inline void ltr(std::uint16_t selector) { asm volatile("ltr %0" : : "r"(selector) : "memory"); }
inline std::uint16_t str() {
    std::uint16_t s;
    asm volatile("str %0" : "=r"(s));
    return s;
}

#define METRONOME_READ_SELECTOR(name)                                                              \
    inline std::uint16_t read_##name() {                                                           \
        std::uint16_t s;                                                                           \
        asm volatile("mov %%" #name ", %0" : "=r"(s));                                             \
        return s;                                                                                  \
    }
METRONOME_READ_SELECTOR(cs)
METRONOME_READ_SELECTOR(ss)
METRONOME_READ_SELECTOR(ds)
METRONOME_READ_SELECTOR(es)
METRONOME_READ_SELECTOR(fs)
METRONOME_READ_SELECTOR(gs)
#undef METRONOME_READ_SELECTOR

inline std::uint64_t read_cr3() {
    std::uint64_t v;
    asm volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}

#define METRONOME_DEBUG_REGISTER(n)                                                                \
    inline std::uint64_t read_dr##n() {                                                            \
        std::uint64_t v;                                                                           \
        asm volatile("mov %%db" #n ", %0" : "=r"(v));                                              \
        return v;                                                                                  \
    }                                                                                              \
    inline void write_dr##n(std::uint64_t v) { asm volatile("mov %0, %%db" #n : : "r"(v)); }
METRONOME_DEBUG_REGISTER(0)
METRONOME_DEBUG_REGISTER(1)
METRONOME_DEBUG_REGISTER(2)
METRONOME_DEBUG_REGISTER(3)
METRONOME_DEBUG_REGISTER(6)
METRONOME_DEBUG_REGISTER(7)
#undef METRONOME_DEBUG_REGISTER

inline std::uint64_t read_rflags() {
    std::uint64_t v;
    asm volatile("pushfq; popq %0" : "=r"(v));
    return v;
}
inline void cli() { asm volatile("cli" : : : "memory"); }
inline void sti() { asm volatile("sti" : : : "memory"); }

inline std::uint64_t xgetbv0() {
    std::uint32_t lo, hi;
    asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (static_cast<std::uint64_t>(hi) << 32) | lo;
}
inline void xsetbv0(std::uint64_t v) {
    asm volatile("xsetbv" : : "c"(0), "a"(static_cast<std::uint32_t>(v)), "d"(static_cast<std::uint32_t>(v >> 32)) : "memory");
}

// The FPU/SSE/AVX state: XSAVE/XRSTOR of every component in `mask` (the area must be 64-byte
// aligned), or FXSAVE/FXRSTOR (16-byte aligned, 512 bytes) where XSAVE is not enabled. These
// move the registers as bytes; the hypervisor itself never computes with them.
inline void xsave(void* area, std::uint64_t mask) {
    asm volatile("xsave64 (%0)" : : "r"(area), "a"(static_cast<std::uint32_t>(mask)), "d"(static_cast<std::uint32_t>(mask >> 32)) : "memory");
}
inline void xrstor(const void* area, std::uint64_t mask) {
    asm volatile("xrstor64 (%0)" : : "r"(area), "a"(static_cast<std::uint32_t>(mask)), "d"(static_cast<std::uint32_t>(mask >> 32)) : "memory");
}
inline void fxsave(void* area) { asm volatile("fxsave64 (%0)" : : "r"(area) : "memory"); }
inline void fxrstor(const void* area) { asm volatile("fxrstor64 (%0)" : : "r"(area) : "memory"); }

} // namespace vmx::hw
