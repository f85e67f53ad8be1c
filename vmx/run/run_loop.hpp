// The run loop, the slow path of the hypervisor: asks the scheduler who owns the CPU, makes that
// guest current, programs the preemption timer and the virtual tick, enters it, and tells the
// scheduler what happened when the fast path (vmx/exits/exit_handler.hpp) hands an exit back.
// The commonest slice switch does not come here: a timer exit that ends a `fixed` slot whose next
// guest is plainly runnable is switched to that guest below the loop (switch_below_loop, the
// same books and the same entry, from exit_fast), and the loop sees the guest that exits next.
// Pure: the machine is reached through vmx/run/platform.hpp and the current VMCS.
#pragma once
#include <cstddef>
#include <cstdint>

#include "vmx/lib/text.hpp"
#include "vmx/run/platform.hpp"
#include "vmx/run/vcpu.hpp"
#include "vmx/run/window.hpp"
#include "vmx/sched/scheduler.hpp"

namespace vmx {

struct RunOptions {
    unsigned timer_rate = 0;                 // IA32_VMX_MISC[4:0]
    std::uint32_t timer_limit = 0xffffffffu; // erratum cap (vmx/vmcs/preemption_timer.hpp), or all ones
    bool timer_saved = false;                // "save VMX-preemption timer value" is on
    MeasurementWindow* window = nullptr;     // where the run measures, if not the whole run
    std::size_t console_guest = kNoGuest;    // the guest that gets what is typed (console_input)
    // With a console_input guest, the longest the CPU stays in one guest without the run loop
    // looking at COM1 (and sending queued output): a lone runnable guest is otherwise left
    // running until the next event, which may be seconds away.
    std::uint64_t console_poll_ticks = 0;
};

// What a slice switch made below the run loop needs (switch_below_loop in vmx/exits/
// exit_handler.hpp): run_guests keeps one and names it in the FastPath of each guest it enters
// where such a switch is allowed (no console_input guest, no window still to open, neither guest
// `tsc = own` nor a Linux guest).
struct SwitchBelow {
    Scheduler* scheduler = nullptr;
    Vcpu* guests = nullptr;
    std::size_t count = 0;
    const RunOptions* options = nullptr;
    std::uint64_t closes_at = ~0ull;  // the measurement window's end: the run loop stops there
    bool switch_failed = false;       // the next guest's VMPTRLD failed: it is stopped, none is current
};

// Preemption-timer value that fires at `deadline` or at most one timer unit later: rounding up
// never ends a slice early (SDM "VMX-Preemption Timer": the timer counts down by 1 every 2^rate
// TSC ticks and exits at 0). 0 when the deadline has passed: exit before any guest instruction.
std::uint32_t timer_value_for(std::uint64_t now, std::uint64_t deadline, const RunOptions& options);

// Why VMLAUNCH (launched = false) or VMRESUME failed, in words: the guest's stop detail.
void describe_failed_entry(bool launched, const EntryResult& r, Text& out);

// Runs the schedule until the scheduler says finished. Guests that fail are stopped (their
// Vcpu::stop says why); the loop itself never gives up on the others.
void run_guests(Scheduler& scheduler, Vcpu* guests, std::size_t count, const RunOptions& options);

} // namespace vmx
