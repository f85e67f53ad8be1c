// The run loop: asks the scheduler who owns the CPU, programs the preemption timer and the
// virtual tick, enters the guest, hands each exit to the exit handler and tells the scheduler
// what happened. Pure: the machine is reached through the Machine interface below (VMX on the
// target, a fake in tests).
#pragma once
#include <cstddef>
#include <cstdint>

#include "vmx/exits/exit_handler.hpp"
#include "vmx/sched/scheduler.hpp"
#include "vmx/lib/text.hpp"

namespace vmx {

struct EntryResult {
    bool exited = false;                   // a VM exit happened (the normal case)
    std::uint32_t vm_instruction_error = 0; // VMfailValid: why VMLAUNCH/VMRESUME failed
    bool fail_invalid = false;             // VMfailInvalid: no current VMCS
};

class Machine {
  public:
    virtual std::uint64_t rdtsc() = 0;
    // Makes `next` current: VMPTRLD its VMCS and swap the state the VMCS does not switch
    // (FPU/SSE/AVX, DR0-3/DR6, syscall MSRs, TSC_AUX, XCR0). `previous` may be null.
    virtual bool switch_guest(GuestContext* previous, GuestContext& next) = 0;
    // VMLAUNCH (first time) or VMRESUME the current guest until its next VM exit.
    virtual EntryResult enter(GuestContext& guest, bool launched) = 0;
    // Root-mode idle until the TSC reaches `tsc` (nothing can run).
    virtual void idle_until(std::uint64_t tsc) = 0;
    virtual VmcsAccess& vmcs() = 0;
    virtual ExitServices& services() = 0;

  protected:
    Machine() = default;
    ~Machine() = default;
    Machine(const Machine&) = default;
    Machine& operator=(const Machine&) = default;
};

struct RunGuest {
    GuestContext context;
    bool launched = false;
    bool window_armed = false;  // interrupt-window exiting is on for a pending tick
};

struct RunOptions {
    unsigned timer_rate = 0;               // IA32_VMX_MISC[4:0]
    std::uint32_t timer_limit = 0xffffffffu; // erratum cap (vmx/vmcs/preemption_timer.hpp), or all ones
};

// Preemption-timer value that fires at `deadline` or at most one timer unit later: rounding up
// never ends a slice early (SDM "VMX-Preemption Timer": the timer counts down by 1 every 2^rate
// TSC ticks and exits at 0). 0 when the deadline has passed: exit before any guest instruction.
std::uint32_t timer_value_for(std::uint64_t now, std::uint64_t deadline, const RunOptions& options);

// Why VMLAUNCH (launched = false) or VMRESUME failed, in words: the guest's stop detail.
void describe_failed_entry(bool launched, const EntryResult& r, Text& out);

// Runs the schedule until the scheduler says finished. Guests that fail are stopped (their
// GuestContext::stop says why); the loop itself never gives up on the others.
void run_guests(Scheduler& scheduler, RunGuest* guests, std::size_t count, Machine& machine,
                const RunOptions& options);

} // namespace vmx
