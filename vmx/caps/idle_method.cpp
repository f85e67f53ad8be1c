#include "vmx/caps/idle_method.hpp"

namespace vmx {

IdleMethod choose_idle_method(const IdleCpuFacts& cpu) {
    return idle_fallback_reason(cpu)[0] == '\0' ? IdleMethod::mwait_tsc_deadline : IdleMethod::pause_loop;
}

const char* idle_fallback_reason(const IdleCpuFacts& cpu) {
    using namespace idle_cpuid;
    const bool monitor = (cpu.leaf1_ecx & leaf1_ecx_monitor) != 0 && cpu.max_basic_leaf >= 5;
    const bool break_on_masked = monitor && (cpu.leaf5_ecx & leaf5_ecx_extensions) != 0 &&
                                 (cpu.leaf5_ecx & leaf5_ecx_break_on_masked) != 0;
    const bool deadline = (cpu.leaf1_ecx & leaf1_ecx_tsc_deadline) != 0 &&
                          (cpu.apic_base & apic_base_enabled) != 0;
    // An interrupt whose priority class is not above the TPR's is not even a break event.
    const bool deliverable = ((cpu.task_priority >> 4) & 0xfu) < (idle_wake_vector >> 4);
    if (!monitor) return "no MONITOR/MWAIT";
    if (!break_on_masked) return "MWAIT cannot break on masked interrupts";
    if (!deadline) return "no local APIC TSC-deadline timer";
    if (!deliverable) return "the APIC task priority would hold the wake-up back";
    // MONITOR arms only on write-back memory (SDM "MONITOR—Set Up Monitor Address").
    if (!cpu.write_back_line) return "no write-back memory by the MTRRs: MONITOR cannot arm";
    return "";
}

const char* idle_method_description(IdleMethod method) {
    switch (method) {
    case IdleMethod::pause_loop: return "pause loop polling the TSC";
    case IdleMethod::mwait_tsc_deadline:
        return "mwait C1 (break on masked interrupts) woken by the local APIC TSC deadline";
    }
    return "unknown";
}

IdleStep plan_idle_step(IdleMethod method, std::uint64_t now, std::uint64_t until) {
    IdleStep step;
    if (now >= until) {
        step.done = true;
        return step;
    }
    const std::uint64_t left = until - now;
    if (method != IdleMethod::mwait_tsc_deadline || left < idle_min_sleep_ticks + idle_wake_early_ticks)
        return step;
    step.sleep = true;
    const std::uint64_t sleep = left - idle_wake_early_ticks;
    step.wake_at = now + (sleep > idle_max_sleep_ticks ? idle_max_sleep_ticks : sleep);
    return step;
}

} // namespace vmx
