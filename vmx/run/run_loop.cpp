#include "vmx/run/hypervisor.hpp"

#include "vmx/caps/controls.hpp"
#include "vmx/guest/guest_layout.hpp"
#include "vmx/guest/guest_paging.hpp"
#include "vmx/arch/interruption.hpp"
#include "vmx/lib/text.hpp"

namespace vmx {
namespace {

void set_interrupt_window(RunGuest& guest, VmcsAccess& vmcs, bool on) {
    if (guest.window_armed == on) return;
    const std::uint64_t primary = vmcs.read_or_zero(Field::primary_processor_based_controls);
    vmcs.write(Field::primary_processor_based_controls,
               on ? (primary | proc::interrupt_window_exiting) : (primary & ~std::uint64_t{proc::interrupt_window_exiting}));
    guest.window_armed = on;
}

// A single-step trap is pending (the guest runs with RFLAGS.TF = 1): VM entry must deliver the
// #DB first, as traps on the previous instruction come before interrupts (SDM "Priority Among
// Concurrent Events"), and injecting an interrupt would discard it.
bool single_step_pending(VmcsAccess& vmcs) {
    return (vmcs.read_or_zero(Field::guest_pending_debug_exceptions) & pending_debug::single_step) != 0;
}

// Whether a guest that exited in the HLT activity state must go on running instead of halting:
//  - a single-step trap is pending (it halted with RFLAGS.TF = 1): a debug exception ends the
//    halt (SDM "HLT—Halt"), so the guest is entered active and VM entry delivers the #DB;
//  - it is "halted" with interrupts off at an RIP that does not follow a HLT instruction. The
//    HLT state is only reachable by executing HLT, which leaves RIP just past it; anything else
//    is an event that was delivered while the processor stayed halted. Bochs 2.7 does exactly
//    that with the single-step #DB after a HLT executed with TF = 1: it pushes the frame, enters
//    the #DB handler (interrupts off) and stays halted, so nothing could ever wake the guest.
//    (A guest that halted with interrupts off on purpose, `cli; hlt`, has RIP past its HLT and
//    stays halted.)
bool halt_is_over(const GuestContext& guest, VmcsAccess& vmcs) {
    if (single_step_pending(vmcs)) return true;
    if ((vmcs.read_or_zero(Field::guest_rflags) & rflags_if) != 0) return false;
    const std::uint64_t rip = vmcs.read_or_zero(Field::guest_rip);
    constexpr std::uint8_t hlt_opcode = 0xf4;
    WalkAccess fetch;
    fetch.fetch = true;
    const GuestWalk w = walk_guest_page_tables(guest.memory, guest.memory_size,
                                               vmcs.read_or_zero(Field::guest_cr3), rip - 1, fetch);
    return rip != 0 && w.ok() && guest.memory[w.physical] != hlt_opcode;
}

// Injects the virtual tick if the guest can take an external interrupt now (RFLAGS.IF = 1, no
// STI/MOV-SS shadow, no other event being injected, no single-step trap due: SDM "Checks on
// Guest Non-Register State"); otherwise asks for an interrupt-window exit so the tick is
// delivered as soon as it can be.
bool try_inject_tick(RunGuest& guest, VmcsAccess& vmcs) {
    const std::uint64_t rflags = vmcs.read_or_zero(Field::guest_rflags);
    const std::uint64_t blocking = vmcs.read_or_zero(Field::guest_interruptibility_state);
    const std::uint64_t pending = vmcs.read_or_zero(Field::entry_interruption_info);
    const bool shadow = (blocking & (interruptibility::blocking_by_sti | interruptibility::blocking_by_mov_ss)) != 0;
    if ((rflags & rflags_if) == 0 || shadow || (pending & interruption_bits::valid) != 0 ||
        ((rflags & rflags_tf) != 0 && single_step_pending(vmcs))) {
        set_interrupt_window(guest, vmcs, true);
        return false;
    }
    vmcs.write(Field::entry_interruption_info, inject_external_interrupt(guest_layout::tick_vector));
    set_interrupt_window(guest, vmcs, false);
    return true;
}

// An exit in the middle of delivering an event leaves the event in the IDT-vectoring field;
// it must be injected again or the guest loses it (SDM "Information for VM Exits That Occur
// During Event Delivery").
void reinject_interrupted_event(VmcsAccess& vmcs) {
    const auto info = static_cast<std::uint32_t>(vmcs.read_or_zero(Field::idt_vectoring_info));
    if ((info & interruption_bits::valid) == 0) return;
    if ((vmcs.read_or_zero(Field::entry_interruption_info) & interruption_bits::valid) != 0) return;
    vmcs.write(Field::entry_interruption_info, info & ~interruption_bits::nmi_unblocking_due_to_iret);
    const DecodedInterruption d = decode_interruption_info(info);
    if (d.has_error_code) vmcs.write(Field::entry_exception_error_code, vmcs.read_or_zero(Field::idt_vectoring_error_code));
    if (d.type == InterruptionType::software_interrupt || d.type == InterruptionType::software_exception ||
        d.type == InterruptionType::privileged_software_exception) {
        vmcs.write(Field::entry_instruction_length, vmcs.read_or_zero(Field::exit_instruction_length));
    }
}

ExitCause cause_of(ExitOutcome outcome, VmcsAccess& vmcs) {
    switch (outcome) {
    case ExitOutcome::preempted:
        return vmcs.read_or_zero(Field::guest_activity_state) == activity::hlt ? ExitCause::halted_native_at_preemption
                                                                                : ExitCause::timer;
    case ExitOutcome::halted: return ExitCause::halted;
    case ExitOutcome::yielded: return ExitCause::yielded;
    case ExitOutcome::stopped: return ExitCause::dead;
    case ExitOutcome::resume:
    case ExitOutcome::interrupt_window: return ExitCause::handled;
    }
    return ExitCause::handled;
}

void stop_failed_entry(RunGuest& guest, const EntryResult& r) {
    FixedText<sizeof(GuestStop::detail)> text;
    describe_failed_entry(guest.launched, r, text);
    stop_guest(guest.context, StopReason::entry_failure, 0, text.c_str());
    guest.context.stop.code = r.vm_instruction_error;
}

} // namespace

void describe_failed_entry(bool launched, const EntryResult& r, Text& text) {
    text.str(launched ? "VMRESUME" : "VMLAUNCH").str(" failed: ");
    if (r.fail_invalid) {
        text.str("VMfailInvalid (no current VMCS)");
    } else {
        text.str(vm_instruction_error_text(r.vm_instruction_error)).str(" (VM-instruction error ").dec(r.vm_instruction_error).chr(')');
    }
}

std::uint32_t timer_value_for(std::uint64_t now, std::uint64_t deadline, const RunOptions& options) {
    if (deadline <= now) return 0;
    const std::uint64_t ticks = deadline - now;
    const unsigned rate = options.timer_rate & 0x1f;
    std::uint64_t units = ticks >> rate;
    if ((ticks & ((1ull << rate) - 1)) != 0) ++units;
    return units > options.timer_limit ? options.timer_limit : static_cast<std::uint32_t>(units);
}

void run_guests(Scheduler& scheduler, RunGuest* guests, std::size_t count, Machine& machine,
                const RunOptions& options) {
    VmcsAccess& vmcs = machine.vmcs();
    RunGuest* current = nullptr;
    // Root-mode ticks of the last exit, from its exit_time to the next entry's resume_at
    // (GuestCounters::root_ticks); dropped when the CPU idles in between.
    RootTicks* root_slot = nullptr;
    std::uint64_t root_since = 0;
    for (;;) {
        const Decision d = scheduler.next(machine.rdtsc());
        if (d.kind == DecisionKind::finished) break;
        if (d.kind == DecisionKind::idle) {
            root_slot = nullptr;
            machine.idle_until(d.idle_until);
            continue;
        }
        if (d.guest >= count) break;  // cannot happen with a consistent scheduler
        RunGuest& guest = guests[d.guest];
        if (current != &guest) {
            if (!machine.switch_guest(current != nullptr ? &current->context : nullptr, guest.context)) {
                stop_guest(guest.context, StopReason::hypervisor_error, 0, "VMPTRLD of its VMCS failed");
                scheduler.on_exit(d.guest, machine.rdtsc(), ExitCause::dead);
                current = nullptr;
                continue;
            }
            current = &guest;
        }
        bool injected = false;
        if (d.inject_tick) {
            injected = try_inject_tick(guest, vmcs);
        } else {
            set_interrupt_window(guest, vmcs, false);
        }
        const bool wake = d.resume_halted && !injected && halt_is_over(guest.context, vmcs);
        if (d.resume_halted && !injected && !wake) vmcs.write(Field::guest_activity_state, activity::hlt);
        if (injected || wake) vmcs.write(Field::guest_activity_state, activity::active);

        const std::uint64_t entry = machine.rdtsc();
        vmcs.write(Field::vmx_preemption_timer_value, timer_value_for(entry, d.timer_deadline, options));
        const std::uint64_t resume_at = machine.rdtsc();
        scheduler.on_reentry(d.guest, resume_at, injected);
        if (root_slot != nullptr) root_slot->add(resume_at - root_since);
        root_slot = nullptr;
        if (guest.context.counters.first_entry_tsc == 0) guest.context.counters.first_entry_tsc = resume_at;
        const EntryResult r = machine.enter(guest.context, guest.launched);
        const std::uint64_t exit_time = machine.rdtsc();
        if (!r.exited) {
            stop_failed_entry(guest, r);
            scheduler.on_exit(d.guest, exit_time, ExitCause::dead);
            continue;
        }
        guest.launched = true;
        const auto basic = static_cast<std::uint16_t>(vmcs.read_or_zero(Field::exit_reason) & 0xffffu);
        root_slot = basic < exit_reason::count ? &guest.context.counters.root_ticks[basic] : nullptr;
        root_since = exit_time;
        // An injected event has been delivered (or is back in IDT-vectoring info).
        vmcs.write(Field::entry_interruption_info, 0);
        const ExitOutcome outcome = handle_exit(guest.context, vmcs, machine.services());
        if (outcome != ExitOutcome::stopped) reinject_interrupted_event(vmcs);
        scheduler.on_exit(d.guest, exit_time, cause_of(outcome, vmcs));
    }
    scheduler.end(machine.rdtsc());
}

} // namespace vmx
