// Exits that are events rather than instructions the guest asked for: HLT, external interrupts
// and NMIs, exceptions, accesses outside the guest's memory, failed VM entries, and whatever
// Metronome has no answer for. Also the names of the ways a guest can stop.
#include "vmx/arch/interruption.hpp"
#include "vmx/arch/x86.hpp"
#include "vmx/devices/pc.hpp"
#include "vmx/exits/exit_helpers.hpp"
#include "vmx/lib/text.hpp"
#include "vmx/run/platform.hpp"
#include "vmx/vmcs/vmcs_access.hpp"

namespace vmx {

const char* stop_reason_key(StopReason reason) {
    switch (reason) {
    case StopReason::none: return "none";
    case StopReason::powerdown: return "powerdown";
    case StopReason::triple_fault: return "triple_fault";
    case StopReason::ept_violation: return "ept_violation";
    case StopReason::entry_failure: return "entry_failure";
    case StopReason::unhandled_exit: return "unhandled_exit";
    case StopReason::hypervisor_error: return "hypervisor_error";
    case StopReason::halted_forever: return "halted_forever";
    case StopReason::reboot: return "reboot";
    }
    return "unknown";
}

ExitOutcome handle_hlt(Vcpu& guest) {
    if ((vmcs::read(Field::guest_rflags) & rflags::if_) == 0) {
        // HLT with interrupts disabled waits for an NMI, SMI or INIT (SDM "HLT—Halt"), and
        // guests get none of them: it can never run again. Left halted, a pending tick would
        // make it runnable under `shared`, and it would sit in HLT through whole slices that
        // belong to the guests still working. Stopped, its turn goes as on_guest_exit says.
        stop_guest(guest, StopReason::halted_forever, exit_reason::hlt,
                   "HLT with interrupts disabled (RFLAGS.IF = 0): nothing can wake it");
        return ExitOutcome::stopped;
    }
    advance_rip();
    // HLT with RFLAGS.TF = 1 completes with a single-step trap pending, and the #DB wakes the
    // processor at once: the guest does not halt (KVM's kvm_skip_emulated_instruction does the same).
    if ((vmcs::read(Field::guest_pending_debug_exceptions) & pending_debug::single_step) != 0)
        return ExitOutcome::resume;
    // A Linux guest with an interrupt already pending (its `sti; hlt` idle raced with one) is
    // woken by it at once: the fast path injects it.
    if (guest.pc != nullptr && pc_pending_vector(*guest.pc) >= 0) return ExitOutcome::resume;
    return ExitOutcome::halted;
}

ExitOutcome handle_interrupt_window(Vcpu& guest) {
    // The guests of guest/ABI.md wait for the window with a tick the scheduler holds: the run
    // loop injects it. A Linux guest's PC holds its own requests: injected here.
    if (guest.pc == nullptr) return ExitOutcome::interrupt_window;
    deliver_pc_interrupt(guest);
    return ExitOutcome::resume;
}

ExitOutcome handle_ept_violation(Vcpu& guest) {
    const std::uint64_t q = vmcs::read(Field::exit_qualification);
    // Exit qualification bits 0/1/2: the access was a read, a write, an instruction fetch.
    const GuestAccess access = (q & 4u) != 0 ? GuestAccess::fetch : (q & 2u) != 0 ? GuestAccess::write : GuestAccess::read;
    const std::uint64_t gpa = vmcs::read(Field::guest_physical_address);
    if (guest.pc != nullptr && access != GuestAccess::fetch && gpa - x2apic::default_base < x2apic::page_size)
        return handle_apic_access(guest, gpa);
    return stop_for_ept_violation(guest, gpa, access, q);
}

ExitOutcome handle_exception_or_nmi(Vcpu& guest) {
    const auto info = static_cast<std::uint32_t>(vmcs::read(Field::exit_interruption_info));
    const DecodedInterruption d = decode_interruption_info(info);
    if (d.type == InterruptionType::nmi) {
        // A host NMI while the guest ran ("NMI exiting"): the firmware has no use for it here,
        // and it must not reach the guest's IDT. Counted, then dropped.
        ++guest.counters.host_interrupts;
        reinject_interrupted_event();
        return ExitOutcome::resume;
    }
    // The exception bitmap is empty, so this is unexpected; reflect the event unchanged.
    vmcs::write(Field::entry_interruption_info, info & ~interruption_bits::nmi_unblocking_due_to_iret);
    if (d.has_error_code) vmcs::write(Field::entry_exception_error_code, vmcs::read(Field::exit_interruption_error_code));
    return ExitOutcome::resume;
}

ExitOutcome handle_external_interrupt(Vcpu& guest) {
    // "Acknowledge interrupt on exit" took the vector from the controller; the interrupt belongs
    // to the firmware's devices (masked for the run), so it ends here.
    const auto info = static_cast<std::uint32_t>(vmcs::read(Field::exit_interruption_info));
    ++guest.counters.host_interrupts;
    if ((info & interruption_bits::valid) != 0) platform::end_of_interrupt();
    reinject_interrupted_event();
    return ExitOutcome::resume;
}

ExitOutcome handle_entry_failure(Vcpu& guest, const ExitReason& reason) {
    FixedText<sizeof(GuestStop::detail)> text;
    const std::uint64_t q = vmcs::read(Field::exit_qualification);
    text.str("VM entry failed: ").str(exit_reason_name(reason.basic));
    if (reason.basic == exit_reason::entry_failure_guest_state) text.str(": ").str(entry_failure_qualification_text(q));
    stop_guest(guest, StopReason::entry_failure, reason.basic, text.c_str());
    guest.stop.code = q;
    return ExitOutcome::stopped;
}

ExitOutcome stop_unhandled(Vcpu& guest, std::uint16_t reason) {
    FixedText<sizeof(GuestStop::detail)> text;
    text.str("unhandled exit: ").str(exit_reason_name(reason)).str(" (reason ").dec(reason);
    text.str("), qualification ").hex(vmcs::read(Field::exit_qualification));
    stop_guest(guest, StopReason::unhandled_exit, reason, text.c_str());
    return ExitOutcome::stopped;
}

} // namespace vmx
