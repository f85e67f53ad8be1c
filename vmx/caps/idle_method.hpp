// How the hypervisor idles when no guest may run (README, "Where it comes from": "power-friendly, e.g.
// hlt/mwait with a wake-up timer, or at least pause"): the choice from CPUID bits, and the plan
// of each step of an idle wait. Pure; vmx/hw/idle.cpp carries it out.
//
// The host side runs with interrupts off (RFLAGS.IF = 0, firmware TPL HIGH_LEVEL) and the
// firmware's interrupt sources masked. HLT with IF = 0 wakes only for NMI, SMI or INIT (SDM
// "HLT—Halt"), so it could not be woken on time without STI, and STI would let the wake-up and
// any firmware interrupt through the firmware's IDT. MWAIT can: with ECX[0] = 1 "treat
// interrupts as break events even if masked" (SDM "MWAIT—Monitor Wait", enumerated by
// CPUID.05H:ECX[1]) a masked interrupt ends the wait without being delivered. The wake-up is
// the local APIC timer in TSC-deadline mode (CPUID.01H:ECX[24]; SDM "TSC-Deadline Mode"): it
// fires when the TSC reaches a value, the same clock the scheduler counts in, so no APIC timer
// calibration is needed. Without all of that, the fallback is a PAUSE loop polling the TSC.
#pragma once
#include <cstdint>

namespace vmx {

enum class IdleMethod : std::uint8_t {
    pause_loop,          // PAUSE until the TSC reaches the deadline
    mwait_tsc_deadline,  // MWAIT (C1, break on masked interrupts) woken by the APIC TSC deadline
};

struct IdleCpuFacts {
    std::uint32_t max_basic_leaf = 0; // CPUID.00H:EAX
    std::uint32_t leaf1_ecx = 0;      // CPUID.01H:ECX
    std::uint32_t leaf5_ecx = 0;      // CPUID.05H:ECX (only read when max_basic_leaf >= 5)
    std::uint64_t apic_base = 0;      // IA32_APIC_BASE
    std::uint32_t task_priority = 0;  // local APIC TPR (offset 0x80)
    bool write_back_line = false;     // a write-back line to MONITOR exists (vmx/caps/mtrr.hpp)
};

// The wake-up interrupt's vector: the highest priority class, so that a task priority the
// firmware left in the APIC cannot hold it back (SDM "Task Priority Register").
inline constexpr std::uint8_t idle_wake_vector = 0xfe;

namespace idle_cpuid {
inline constexpr std::uint32_t leaf1_ecx_monitor = 1u << 3;
inline constexpr std::uint32_t leaf1_ecx_tsc_deadline = 1u << 24;
inline constexpr std::uint32_t leaf5_ecx_extensions = 1u << 0;      // ECX hints enumerated
inline constexpr std::uint32_t leaf5_ecx_break_on_masked = 1u << 1; // ECX[0] = 1 allowed
inline constexpr std::uint64_t apic_base_enabled = 1u << 11;

} // namespace idle_cpuid

IdleMethod choose_idle_method(const IdleCpuFacts& cpu);
// For the report's platform.idle_method.
const char* idle_method_description(IdleMethod method);

// Why the pause loop was chosen (or "" when MWAIT was), for the report.
const char* idle_fallback_reason(const IdleCpuFacts& cpu);

// MWAIT can still fail to sleep on a CPU that has every bit (a monitored line the platform does
// not treat as write-back): after this many wake-ups in a row with neither the deadline reached
// nor the wake-up interrupt seen, the shell gives up on it for the rest of the run.
inline constexpr unsigned idle_empty_wakes_limit = 16;

// Shorter waits than this are spun with PAUSE: arming and disarming the wake-up costs more than
// it saves. Longer ones are slept in steps of at most idle_max_sleep_ticks, so that the console
// queue is still drained (the shell's background work) while a long idle lasts.
inline constexpr std::uint64_t idle_min_sleep_ticks = 2000;
inline constexpr std::uint64_t idle_max_sleep_ticks = 1ull << 18;
// The last stretch before the deadline is spun, not slept: leaving MWAIT (disarming the timer,
// taking and ending its interrupt) costs ~150 TSC ticks (measured in Bochs), the PAUSE loop
// ~20, so sleeping until this much before the deadline keeps the wake-up as punctual as polling.
inline constexpr std::uint64_t idle_wake_early_ticks = 400;

struct IdleStep {
    bool done = false;       // the TSC has reached the deadline: stop idling
    bool sleep = false;      // arm the wake-up at wake_at and MWAIT; else one PAUSE
    std::uint64_t wake_at = 0;
};

// One step of idling from `now` until `until` (re-planned after every wake-up: a wake-up may
// come early, for an unrelated reason, and the TSC is always checked again).
IdleStep plan_idle_step(IdleMethod method, std::uint64_t now, std::uint64_t until);

} // namespace vmx
