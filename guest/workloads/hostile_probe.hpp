// Probing instructions that may fault, for the hostile workloads: HOSTILE_PROBE runs one
// instruction with a resume point right after it; if the instruction raises an exception, the
// probe handler records the vector and error code and resumes there (the instruction is skipped,
// as a handler that emulates "ignore" would). probe_result() then says what happened.
#pragma once
#include "workloads/workloads.hpp"

namespace workloads::probe {

inline constexpr std::uint64_t no_fault = ~0ull;

struct State {
    std::uint64_t armed;      // 1 while a probed instruction runs
    std::uint64_t resume;     // where the handler resumes: right after the instruction
    std::uint64_t vector;     // no_fault, or the vector it raised
    std::uint64_t error;      // the error code pushed with it (0 when none)
    std::uint64_t caught[32]; // every fault the probe handler took, by vector
};
inline State state{};

inline bool handler(guest::ExceptionFrame& frame) {
    volatile State& s = state;
    if (s.armed == 0) return false; // not a probe: the runtime reports it and powers down
    s.armed = 0;
    s.vector = frame.vector;
    s.error = frame.error_code;
    s.caught[frame.vector & 31] = s.caught[frame.vector & 31] + 1;
    frame.rip = s.resume;
    return true;
}

// Catches every exception a probed instruction can raise (#DE #UD #NM #TS #NP #SS #GP #PF #MF #AC
// #XM); the others keep the runtime's default (report and power down).
inline void install() {
    constexpr unsigned vectors[] = {0, 6, 7, 10, 11, 12, 13, 14, 16, 17, 19};
    for (unsigned v : vectors)
        guest::set_exception_handler(v, handler);
}

inline std::uint64_t result() {
    return static_cast<volatile State&>(state).vector;
}

inline std::uint64_t caught(unsigned vector) {
    return static_cast<volatile State&>(state).caught[vector & 31];
}

} // namespace workloads::probe

// Runs `instruction` (AT&T syntax, may use the operands) under the probe. The caller passes the
// rest of the asm statement after the probe's own outputs: `: inputs : clobbers`, and must list
// "r11" (the resume address goes through it) and whatever the instruction writes. Example:
//   HOSTILE_PROBE("rdmsr", : "c"(msr) : "rax", "rdx", "r11", "memory");
#define HOSTILE_PROBE_ASM(instruction)                                                             \
    "movq $-1, %[probe_vector]\n\t"                                                                \
    "leaq 9f(%%rip), %%r11\n\t"                                                                    \
    "movq %%r11, %[probe_resume]\n\t"                                                              \
    "movq $1, %[probe_armed]\n\t" instruction "\n9:\n\t"                                           \
    "movq $0, %[probe_armed]"
#define HOSTILE_PROBE_OUTPUTS                                                                      \
    [probe_vector] "=m"(workloads::probe::state.vector),                                           \
        [probe_resume] "=m"(workloads::probe::state.resume),                                       \
        [probe_armed] "=m"(workloads::probe::state.armed)
#define HOSTILE_PROBE(instruction, ...)                                                            \
    asm volatile(HOSTILE_PROBE_ASM(instruction) : HOSTILE_PROBE_OUTPUTS __VA_ARGS__)
