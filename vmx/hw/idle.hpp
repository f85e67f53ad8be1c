// The hypervisor's idle on the real processor: MWAIT woken by the local APIC timer in
// TSC-deadline mode when the CPU has what that needs, else a PAUSE loop (the choice and the
// stepping are pure: vmx/caps/idle_method.hpp). Target only.
//
// Protocol: init() after the firmware's interrupt sources are masked (InterruptMasks::mask_all),
// idle_until() any number of times, finish() after InterruptMasks::restore().
#pragma once
#include <cstdint>

#include "vmx/caps/idle_method.hpp"

namespace vmx::hw {

class Idle {
  public:
    // `idt_page`: one zeroed 4 KiB page for the IDT used while the wake-up interrupt is taken.
    void init(void* idt_page);
    // Returns when the TSC has reached `tsc`, or earlier when `background` (may be null), run
    // between steps, returns true (console input is waiting).
    void idle_until(std::uint64_t tsc, bool (*background)());
    // Gives the local APIC timer back to the firmware as it was (its mode and count).
    void finish();

    IdleMethod method() const { return method_; }
    // The method in words, and why MWAIT was not used where it was not (the report's
    // platform.idle_method). Final once the run is over: MWAIT may be given up during it.
    const char* description() const { return description_; }
    std::uint64_t sleeps() const { return sleeps_; }
    std::uint64_t wake_interrupts() const { return wake_interrupts_; }
    std::uint64_t monitor_line() const { return monitor_line_; }
    std::uint64_t mtrr_default_type() const { return mtrr_default_type_; }

  private:
    void sleep_until(std::uint64_t wake_at);
    bool take_wake_interrupt();
    void describe(const char* reason);
    std::uint32_t apic_read(std::uint32_t offset) const;
    void apic_write(std::uint32_t offset, std::uint32_t value) const;

    IdleMethod method_ = IdleMethod::pause_loop;
    bool x2apic_ = false;
    std::uint64_t apic_base_ = 0;
    std::uint32_t firmware_lvt_ = 0;
    std::uint32_t firmware_initial_count_ = 0;
    bool timer_mode_changed_ = false;
    void* idt_ = nullptr;
    std::uint64_t sleeps_ = 0;
    std::uint64_t wake_interrupts_ = 0;
    std::uint64_t monitor_line_ = 0;
    std::uint64_t mtrr_default_type_ = 0;
    unsigned empty_wakes_ = 0; // in a row: MWAIT returned with nothing to wake it
    char description_[160] = {};
};

} // namespace vmx::hw
