// Which idle method the hypervisor picks from CPUID bits, and how it steps through a wait
// (vmx/caps/idle_method.hpp).
#include "vmx/caps/idle_method.hpp"

#include <doctest/doctest.h>

#include <string>

using vmx::IdleCpuFacts;
using vmx::IdleMethod;
namespace bits = vmx::idle_cpuid;

namespace {

// A CPU with everything the MWAIT method needs (Bochs' corei7_skylake_x reports all of it).
IdleCpuFacts capable() {
    IdleCpuFacts c;
    c.max_basic_leaf = 0x16;
    c.leaf1_ecx = bits::leaf1_ecx_monitor | bits::leaf1_ecx_tsc_deadline;
    c.leaf5_ecx = bits::leaf5_ecx_extensions | bits::leaf5_ecx_break_on_masked;
    c.apic_base = 0xfee00000u | bits::apic_base_enabled;
    c.write_back_line = true;
    return c;
}

} // namespace

TEST_CASE("idle method: mwait with the TSC-deadline wake-up when the CPU has every piece") {
    CHECK(vmx::choose_idle_method(capable()) == IdleMethod::mwait_tsc_deadline);
}

TEST_CASE("idle method: each missing piece falls back to the pause loop") {
    IdleCpuFacts c = capable();
    c.leaf1_ecx &= ~bits::leaf1_ecx_monitor;
    CHECK(vmx::choose_idle_method(c) == IdleMethod::pause_loop);
    c = capable();
    c.leaf1_ecx &= ~bits::leaf1_ecx_tsc_deadline;
    CHECK(vmx::choose_idle_method(c) == IdleMethod::pause_loop);
    c = capable();
    c.leaf5_ecx &= ~bits::leaf5_ecx_break_on_masked; // MWAIT would sleep through a masked interrupt
    CHECK(vmx::choose_idle_method(c) == IdleMethod::pause_loop);
    c = capable();
    c.leaf5_ecx &= ~bits::leaf5_ecx_extensions;
    CHECK(vmx::choose_idle_method(c) == IdleMethod::pause_loop);
    c = capable();
    c.max_basic_leaf = 4; // leaf 5 not there: its bits mean nothing
    CHECK(vmx::choose_idle_method(c) == IdleMethod::pause_loop);
    c = capable();
    c.apic_base = 0xfee00000u; // local APIC disabled: no timer to wake us
    CHECK(vmx::choose_idle_method(c) == IdleMethod::pause_loop);
    c = capable();
    c.task_priority = 0xf0; // the wake-up's priority class would be held back
    CHECK(vmx::choose_idle_method(c) == IdleMethod::pause_loop);
    c.task_priority = 0xe0;
    CHECK(vmx::choose_idle_method(c) == IdleMethod::mwait_tsc_deadline);
    c = capable();
    c.write_back_line = false; // nothing write-back to MONITOR: it would not arm
    CHECK(vmx::choose_idle_method(c) == IdleMethod::pause_loop);
    CHECK(std::string(vmx::idle_fallback_reason(c)).find("MTRR") != std::string::npos);
    CHECK(vmx::choose_idle_method(IdleCpuFacts{}) == IdleMethod::pause_loop);
    CHECK(std::string(vmx::idle_fallback_reason(IdleCpuFacts{})) == "no MONITOR/MWAIT");
    CHECK(std::string(vmx::idle_fallback_reason(capable())).empty());
}

TEST_CASE("idle method: descriptions name the mechanism") {
    CHECK(std::string(vmx::idle_method_description(IdleMethod::pause_loop)).find("pause") != std::string::npos);
    CHECK(std::string(vmx::idle_method_description(IdleMethod::mwait_tsc_deadline)).find("mwait") != std::string::npos);
}

TEST_CASE("idle steps: done at the deadline, pause for short waits, bounded sleeps otherwise") {
    using vmx::plan_idle_step;
    CHECK(plan_idle_step(IdleMethod::mwait_tsc_deadline, 100, 100).done);
    CHECK(plan_idle_step(IdleMethod::mwait_tsc_deadline, 101, 100).done);
    const std::uint64_t shortest = vmx::idle_min_sleep_ticks + vmx::idle_wake_early_ticks;
    const vmx::IdleStep short_wait = plan_idle_step(IdleMethod::mwait_tsc_deadline, 0, shortest - 1);
    CHECK_FALSE(short_wait.done);
    CHECK_FALSE(short_wait.sleep);
    const vmx::IdleStep exact = plan_idle_step(IdleMethod::mwait_tsc_deadline, 1000, 1000 + shortest);
    CHECK(exact.sleep);
    // Wakes before the deadline, by the spun stretch, never after it.
    CHECK(exact.wake_at == 1000 + vmx::idle_min_sleep_ticks);
    const vmx::IdleStep tail = plan_idle_step(IdleMethod::mwait_tsc_deadline, exact.wake_at, 1000 + shortest);
    CHECK_FALSE(tail.sleep);
    CHECK_FALSE(tail.done);
    const vmx::IdleStep long_wait = plan_idle_step(IdleMethod::mwait_tsc_deadline, 1000, 1000 + 10 * vmx::idle_max_sleep_ticks);
    CHECK(long_wait.sleep);
    CHECK(long_wait.wake_at == 1000 + vmx::idle_max_sleep_ticks);
    const vmx::IdleStep polled = plan_idle_step(IdleMethod::pause_loop, 0, 1u << 30);
    CHECK_FALSE(polled.done);
    CHECK_FALSE(polled.sleep);
}
