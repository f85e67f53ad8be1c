// The dispatch of every VM exit, and the fast path that resumes a handled exit without the run
// loop. One CPUID exit, end to end: vm_entry.S (registers saved) -> exit_fast here (exit reason
// read once, the switch) -> handle_cpuid in cpuid.cpp (the answer from the guest's precomputed
// table, RIP advanced) -> back here (root-mode ticks accounted, timer left as the exit saved it)
// -> vm_entry.S (registers loaded, VMRESUME). A timer exit that ends a `fixed` slot goes from here
// to switch_below_loop (vmx/run/run_loop.cpp) and, where it can, straight into the next guest.
#include "vmx/exits/exit_handler.hpp"

#include "vmx/arch/interruption.hpp"
#include "vmx/exits/exit_helpers.hpp"
#include "vmx/lib/text.hpp"
#include "vmx/run/platform.hpp"
#include "vmx/vmcs/preemption_timer.hpp"
#include "vmx/vmcs/vmcs_access.hpp"

namespace vmx {

void stop_guest(Vcpu& guest, StopReason reason, std::uint16_t exit_reason, const char* detail) {
    guest.stop.rip = vmcs::read(Field::guest_rip);
    guest.stop.reason = reason;
    guest.stop.exit_reason = exit_reason;
    Text text(guest.stop.detail, sizeof guest.stop.detail);
    text.str(detail);
}

namespace {

[[gnu::noinline, gnu::cold]] ExitOutcome stop_for_triple_fault(Vcpu& guest) {
    stop_guest(guest, StopReason::triple_fault, exit_reason::triple_fault, "triple fault");
    return ExitOutcome::stopped;
}

[[gnu::noinline, gnu::cold]] ExitOutcome stop_for_ept_misconfiguration(Vcpu& guest) {
    FixedText<sizeof(GuestStop::detail)> text;
    text.str("EPT misconfiguration at guest-physical ").hex(vmcs::read(Field::guest_physical_address));
    stop_guest(guest, StopReason::hypervisor_error, exit_reason::ept_misconfiguration, text.c_str());
    return ExitOutcome::stopped;
}

[[gnu::noinline, gnu::cold]] ExitOutcome entry_failed(Vcpu& guest, std::uint32_t raw) {
    return handle_entry_failure(guest, decode_exit_reason(raw));
}

// The dispatch, inline in the fast path: the exit reason (read once, by the caller) is counted,
// and its basic reason (bits 15:0) picks the handler.
[[gnu::always_inline]] inline ExitOutcome dispatch(Vcpu& guest, std::uint32_t raw, RootTicks*& root) {
    // The commonest exit of all (a guest asks its CPU's features in loops) first, with its
    // counters at constant offsets: the whole reason equal to CPUID's is no entry failure.
    if (raw == exit_reason::cpuid) {
        ++guest.counters.exits[exit_reason::cpuid];
        root = &guest.counters.root_ticks[exit_reason::cpuid];
        return handle_cpuid(guest);
    }
    // Then the end of every slice, which goes to the scheduler with nothing to handle.
    if (raw == exit_reason::preemption_timer) {
        ++guest.counters.exits[exit_reason::preemption_timer];
        root = &guest.counters.root_ticks[exit_reason::preemption_timer];
        return ExitOutcome::preempted;
    }
    const auto basic = static_cast<std::uint16_t>(raw);
    if (basic < exit_reason::count) [[likely]] {
        ++guest.counters.exits[basic];
        root = &guest.counters.root_ticks[basic];
    } else {
        ++guest.counters.exits_other;
        root = &guest.counters.root_ticks_other;
    }
    if ((raw & exit_reason_bits::entry_failure) != 0) return entry_failed(guest, raw);
    switch (basic) {
    case exit_reason::cpuid: return handle_cpuid(guest); // with other bits of the reason set
    case exit_reason::vmcall: return handle_vmcall(guest);
    case exit_reason::io_instruction: return handle_io(guest);
    case exit_reason::rdmsr:
    case exit_reason::wrmsr:
    case exit_reason::rdpmc: return handle_msr(guest, basic);
    case exit_reason::control_register_access: return handle_cr_access(guest);
    case exit_reason::xsetbv: return handle_xsetbv(guest);
    case exit_reason::preemption_timer: return ExitOutcome::preempted;
    case exit_reason::hlt: return handle_hlt(guest);
    case exit_reason::interrupt_window: return handle_interrupt_window(guest);
    case exit_reason::ept_violation: return handle_ept_violation(guest);
    case exit_reason::exception_or_nmi: return handle_exception_or_nmi(guest);
    case exit_reason::external_interrupt: return handle_external_interrupt(guest);
    case exit_reason::triple_fault: return stop_for_triple_fault(guest);
    case exit_reason::ept_misconfiguration: return stop_for_ept_misconfiguration(guest);
    case exit_reason::vmclear:
    case exit_reason::vmlaunch:
    case exit_reason::vmptrld:
    case exit_reason::vmptrst:
    case exit_reason::vmread:
    case exit_reason::vmresume:
    case exit_reason::vmwrite:
    case exit_reason::vmxoff:
    case exit_reason::vmxon:
    case exit_reason::invept:
    case exit_reason::invvpid:
    case exit_reason::vmfunc:
    case exit_reason::getsec:
    case exit_reason::mwait:
    case exit_reason::monitor:
        // VMX (and SMX, MONITOR/MWAIT) are not offered to guests: #UD, as on a CPU without them.
        inject_exception(guest, vector::ud);
        return ExitOutcome::resume;
    case exit_reason::invd:
    case exit_reason::wbinvd:
        // Caches stay coherent; a guest must not discard the host's dirty lines (INVD), nor flush
        // the caches its neighbours use (WBINVD): both do nothing (guest/ABI.md section 10).
        advance_rip();
        return ExitOutcome::resume;
    default: return stop_unhandled(guest, basic);
    }
}

} // namespace

ExitOutcome handle_exit(Vcpu& guest) {
    RootTicks* root = nullptr;
    const auto raw = static_cast<std::uint32_t>(vmcs::read(Field::exit_reason));
    const ExitOutcome outcome = dispatch(guest, raw, root);
    guest.fast.reason = static_cast<std::uint16_t>(raw);
    return outcome;
}

int exit_fast(Vcpu& guest) {
    const std::uint64_t exited = platform::rdtsc();
    RootTicks* root = nullptr;
    const auto raw = static_cast<std::uint32_t>(vmcs::read(Field::exit_reason));
    const ExitOutcome outcome = dispatch(guest, raw, root);
    if (outcome == ExitOutcome::resume) {
        if (guest.pc != nullptr) deliver_pc_interrupt(guest); // what the exit raised, or the window
        const std::uint64_t now = platform::rdtsc();
        if (now < guest.fast.deadline) {
            // Nothing for the scheduler to decide before the deadline: the slice goes on. The
            // timer kept counting down in guest mode and stopped at the exit; where the CPU saves
            // its value it is short only by this exit's root-mode time, and is left as it is
            // when that was short (the next exit checks the deadline again); otherwise it is
            // armed again for the same deadline, so that a slow exit (a console line) never
            // carries the slice past its end. (The books first: nothing lives across the write.)
            const std::uint64_t spent = now - exited;
            guest.fast.root_ticks += spent;
            root->add(spent);
            if (spent > guest.fast.rearm_after)
                vmcs::write(Field::vmx_preemption_timer_value, timer_units_until(now, guest.fast.deadline, guest.fast.timer_rate, guest.fast.timer_limit));
            if (guest.fast.reload != 0) {
                guest.fast.reload = 0;
                return 2; // every register and CR2 from the Vcpu (an injected page fault's CR2)
            }
            return 0;
        }
        if (guest.fast.reload != 0) [[unlikely]] {
            // Past the deadline, but what the handler left in the Vcpu (an injected page fault's
            // CR2, RBP or R12-R15) is loaded only by the way back into this guest: the ways to
            // the loop and to the next guest save the CPU's CR2 over it. So it is resumed with
            // the timer at 0: the entry delivers what was injected and the guest exits at once,
            // before any instruction, at a timer exit that goes on from there.
            const std::uint64_t spent = now - exited;
            guest.fast.root_ticks += spent;
            root->add(spent);
            vmcs::write(Field::vmx_preemption_timer_value, 0);
            guest.fast.reload = 0;
            return 2;
        }
        // The slot may have ended: the next one begins below the loop where the scheduler's short
        // path applies.
        if (guest.fast.below != nullptr && switch_below_after_handled(guest, exited, *root)) return 3;
    }
    if (outcome == ExitOutcome::preempted && guest.fast.below != nullptr && switch_below_loop(guest, exited)) return 3;
    guest.fast.exit_tsc = exited;
    guest.fast.outcome = static_cast<std::uint8_t>(outcome);
    // Read again rather than kept across the handler: a register saved on every fast exit costs
    // more than this read on the exits that go to the loop.
    guest.fast.reason = static_cast<std::uint16_t>(vmcs::read(Field::exit_reason));
    return 1;
}

} // namespace vmx

extern "C" int metronome_vm_exit_handler(vmx::Vcpu* guest) {
    return vmx::exit_fast(*guest);
}
