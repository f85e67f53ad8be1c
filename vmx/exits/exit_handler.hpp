// Handling of one VM exit: decode it, give the guest the architecturally right answer, and say
// what happened, for the run loop and the scheduler. Pure: hardware is reached only through the
// current VMCS (vmx/vmcs/vmcs_access.hpp) and the platform seam (vmx/run/platform.hpp), so every
// path is unit-tested on the host.
//
// The path of one exit: vm_entry.S saves the guest's registers into its Vcpu and calls
// metronome_vm_exit_handler (this file's exit_fast): the dispatch switch calls the handler of
// the exit's family (vmx/exits/*.cpp); a handled exit inside the bounds the run loop set is
// resumed at once, everything else goes back to the run loop (vmx/run/run_loop.cpp).
#pragma once
#include <cstdint>

#include "vmx/run/vcpu.hpp"

namespace vmx {

enum class ExitOutcome : std::uint8_t {
    resume,            // handled; the guest continues in its slice
    preempted,         // the VMX-preemption timer expired
    halted,            // trapped HLT: the guest waits for its next event
    yielded,           // VMCALL yield
    interrupt_window,  // the guest can take an interrupt now
    stopped,           // the guest never runs again; Vcpu::stop says why
    timer_changed,     // handled, and the guest reprogrammed its own timer: the scheduler must know
    ready,             // handled: the guest said its workload started (the measurement window)
};

// Handles the exit that just happened on `guest` (its VMCS is current) and counts it.
ExitOutcome handle_exit(Vcpu& guest);

// The fast path. Handles the exit; returns 0 when the guest may be resumed at once (the exit was
// handled, and no scheduling event is due before guest.fast.deadline), with its root-mode ticks
// added to guest.fast.root_ticks and to its counters, or 2 for the same with every register and
// CR2 loaded from the Vcpu; 3 when a timer exit switched to the next slot's guest below the run
// loop (switch_below_loop: guest.resume_next is resumed instead); otherwise 1, with
// guest.fast.exit_tsc, outcome and reason saying what the run loop must act on.
int exit_fast(Vcpu& guest);

// At a timer exit of `guest` (TSC `exited`) whose FastPath names a SwitchBelow: where the
// scheduler's short path would begin the next slot (Scheduler::short_switch_guest) and its guest
// can be resumed from this frame, tells the scheduler, makes that guest current, prepares its
// entry as the run loop would and returns true, with guest.resume_next naming it (exit_fast
// answers 3). False: nothing was done, the exit goes to the run loop (or, with switch_failed
// set, the next guest could not be made current and was stopped). vmx/run/run_loop.cpp.
bool switch_below_loop(Vcpu& guest, std::uint64_t exited);
// The same at a handled exit whose handling has reached the guest's deadline (the end of its
// slot, where the scheduler's short path applies): `root` is that exit reason's root-mode ticks.
bool switch_below_after_handled(Vcpu& guest, std::uint64_t exited, RootTicks& root);

// Stops the guest with a reason and a message (shared by the exit paths and the run loop).
void stop_guest(Vcpu& guest, StopReason reason, std::uint16_t exit_reason, const char* detail);

} // namespace vmx

// vm_entry.S calls this right after every VM exit (exit_fast, with C linkage).
extern "C" int metronome_vm_exit_handler(vmx::Vcpu* guest);
