// Thin wrappers over the privileged x86 instructions the shell needs: CPUID, RDMSR/WRMSR and the
// control registers. Header-only inline assembly; no decisions live here (those are in the pure
// core), so there is nothing to unit-test. RDMSR/WRMSR/MOV CR run only at CPL 0: call them from
// metronome.efi, never from a host program.
#pragma once
#include <cstdint>

namespace vmx::hw {

struct CpuidResult {
    std::uint32_t eax;
    std::uint32_t ebx;
    std::uint32_t ecx;
    std::uint32_t edx;
};

// CPUID with an explicit sub-leaf: leaves such as 7 and 0xD depend on ECX, so it is always set.
inline CpuidResult cpuid(std::uint32_t leaf, std::uint32_t subleaf = 0) {
    CpuidResult r;
    asm volatile("cpuid"
                 : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
                 : "a"(leaf), "c"(subleaf));
    return r;
}

// RDMSR of an MSR the CPU does not implement raises #GP: the caller decides what is readable
// (vmx/caps/capability_report.hpp says which VMX capability MSRs exist).
inline std::uint64_t rdmsr(std::uint32_t index) {
    std::uint32_t lo;
    std::uint32_t hi;
    asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(index));
    return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

inline void wrmsr(std::uint32_t index, std::uint64_t value) {
    asm volatile("wrmsr"
                 :
                 : "c"(index), "a"(static_cast<std::uint32_t>(value)),
                   "d"(static_cast<std::uint32_t>(value >> 32))
                 : "memory");
}

// "memory" clobbers: a CR0/CR4 write changes how memory behaves (paging, caching), so the
// compiler must not move loads or stores across it.
inline std::uint64_t read_cr0() {
    std::uint64_t v;
    asm volatile("mov %%cr0, %0" : "=r"(v));
    return v;
}

inline void write_cr0(std::uint64_t v) {
    asm volatile("mov %0, %%cr0" : : "r"(v) : "memory");
}

// fn(argument) on the stack that ends at stack_top (16-byte aligned): vmx/hw/call_on_stack.S.
extern "C" void metronome_call_on_stack(void (*fn)(void*), void* argument, void* stack_top);

inline std::uint64_t read_cr4() {
    std::uint64_t v;
    asm volatile("mov %%cr4, %0" : "=r"(v));
    return v;
}

inline void write_cr4(std::uint64_t v) {
    asm volatile("mov %0, %%cr4" : : "r"(v) : "memory");
}

// RDTSC is not privileged, but it belongs with the other raw reads; LFENCE first so earlier
// instructions have completed when the TSC is sampled.
inline std::uint64_t rdtsc() {
    std::uint32_t lo;
    std::uint32_t hi;
    asm volatile("lfence\n\trdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

// PAUSE: the polite spin-wait hint (used by polling loops such as the serial port's).
inline void pause() {
    asm volatile("pause");
}

} // namespace vmx::hw
