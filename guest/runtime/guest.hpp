// The guest runtime: what a workload may call. Freestanding; the runtime owns the IDT, the tick
// handler, the exception handler and a line-buffered console.
//
// Start-up (runtime/start.S, runtime/runtime.cpp): _start zeroes .bss, loads the runtime's IDT and
// calls workload_main(); if that returns, the guest powers down with code 0.
#pragma once
#include "runtime/abi.hpp"

#include <cstddef>
#include <cstdint>

namespace guest {

using metronome::abi::StartInfo;

// Exit codes the runtime itself uses with powerdown (documented in guest/ABI.md).
inline constexpr std::uint64_t exit_ok = 0;
inline constexpr std::uint64_t exit_exception_base = 0xE000; // + vector of an unhandled exception
inline constexpr std::uint64_t exit_bad_start_info = 0xF000;
inline constexpr std::uint64_t exit_unknown_workload = 0xF001;

namespace detail {
extern StartInfo* start_info; // set by the runtime before workload_main
}
extern "C" volatile std::uint64_t guest_tick_count; // incremented by the tick handler

// The start-info page.
inline const StartInfo& start_info() {
    return *detail::start_info;
}

// --- Console: bytes are buffered and sent with one hypercall per line (or when the buffer is
// full); the runtime falls back to port 0xE9 when the console hypercall fails.
void console_write(const char* bytes, std::size_t length);
void print(const char* text);
void print_char(char c);
void print_dec(std::uint64_t value);
void print_hex(std::uint64_t value); // "0x" and the shortest form
void console_line(const char* text); // text and '\n'
void console_flush();                // send a partial line now

// --- Hypercalls.
extern "C" std::uint64_t metronome_hypercall(std::uint64_t number, std::uint64_t rbx,
                                             std::uint64_t rcx, std::uint64_t rdx);
inline std::uint64_t hypercall(metronome::abi::Hypercall number, std::uint64_t rbx = 0,
                               std::uint64_t rcx = 0, std::uint64_t rdx = 0) {
    return metronome_hypercall(static_cast<std::uint64_t>(number), rbx, rcx, rdx);
}
inline void yield() {
    hypercall(metronome::abi::Hypercall::yield);
}
[[noreturn]] void powerdown(std::uint64_t code); // flushes the console first

// --- CPU.
struct Cpuid {
    std::uint32_t eax, ebx, ecx, edx;
};
inline Cpuid cpuid(std::uint32_t leaf, std::uint32_t subleaf = 0) {
    Cpuid r;
    asm volatile("cpuid"
                 : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
                 : "a"(leaf), "c"(subleaf));
    return r;
}
inline std::uint64_t rdtsc() {
    std::uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (std::uint64_t{hi} << 32) | lo;
}
inline void sti() {
    asm volatile("sti" ::: "memory");
}
inline void cli() {
    asm volatile("cli" ::: "memory");
}
inline void hlt() {
    asm volatile("hlt" ::: "memory");
}
// STI's one-instruction interrupt shadow makes this race-free: an interrupt that arrives after a
// check done with interrupts off still wakes the HLT.
inline void sti_hlt() {
    asm volatile("sti; hlt" ::: "memory");
}
inline void pause() {
    asm volatile("pause");
}

// Keeps the compiler from deleting or folding work whose result is otherwise unused.
inline void keep(std::uint64_t& value) {
    asm volatile("" : "+r"(value));
}
// `rounds` steps of integer arithmetic that the compiler cannot remove.
std::uint64_t busy_work(std::uint64_t rounds);

// --- Ticks (the virtual tick, vector start_info().tick_vector).
inline std::uint64_t ticks() {
    return guest_tick_count;
} // ticks taken since start
inline bool has_tick() {
    return start_info().tick_hz != 0;
}
void enable_ticks();              // STI when the guest has a tick, otherwise nothing
void wait_for_tick();             // STI, then HLT until the next tick (forever without one)
[[noreturn]] void idle_forever(); // STI, HLT loop: ticks are still taken and counted

// --- Progress: the start-info counter the hypervisor reports (volatile: it reads it from outside).
inline std::uint64_t progress() {
    return *static_cast<volatile std::uint64_t*>(&detail::start_info->progress);
}
inline void progress_add(std::uint64_t n) {
    *static_cast<volatile std::uint64_t*>(&detail::start_info->progress) = progress() + n;
}
inline void progress_inc() {
    progress_add(1);
}

// --- Exceptions. Vectors 0-31 go to the runtime's handler, which reports the exception and powers
// down with exit_exception_base + vector, unless the workload installed a handler for the vector
// that returns true: then the guest resumes with the frame as the handler left it (RIP, RFLAGS
// and the general registers included), e.g. past the faulting instruction.
struct ExceptionFrame { // what runtime/start.S pushes, lowest address first
    std::uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
    std::uint64_t vector, error_code, rip, cs, rflags, rsp, ss;
};
using ExceptionHandler = bool (*)(ExceptionFrame& frame);
void set_exception_handler(unsigned vector, ExceptionHandler handler); // nullptr: the default

// Loads an empty IDT and executes UD2: #UD cannot be delivered, #GP cannot either, so the CPU
// gives up with a triple fault (which the hypervisor reports).
[[noreturn]] void triple_fault();

} // namespace guest

// Provided by the image (guest/workloads/dispatch.cpp for the built-in one).
void workload_main(const guest::StartInfo* info);
