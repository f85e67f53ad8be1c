// Interrupts of a Linux guest's virtual PC (vmx/devices/pc.hpp) into the guest: injection when it
// can take one, an interrupt-window exit when it cannot yet, and the local APIC timer's expiry.
// Also the interrupt-window control both kinds of guest use.
#include "vmx/arch/interruption.hpp"
#include "vmx/arch/x86.hpp"
#include "vmx/caps/controls.hpp"
#include "vmx/devices/pc.hpp"
#include "vmx/exits/exit_helpers.hpp"
#include "vmx/run/platform.hpp"
#include "vmx/vmcs/vmcs_access.hpp"

namespace vmx {

void change_interrupt_window(Vcpu& guest, bool on) {
    const std::uint64_t primary = vmcs::read(Field::primary_processor_based_controls);
    vmcs::write(Field::primary_processor_based_controls,
                on ? (primary | proc::interrupt_window_exiting) : (primary & ~std::uint64_t{proc::interrupt_window_exiting}));
    guest.window_armed = on;
}

// An exit in the middle of delivering an event leaves the event in the IDT-vectoring field;
// it must be injected again or the guest loses it (SDM "Information for VM Exits That Occur
// During Event Delivery"). Exits caused by instructions never occur during event delivery; the
// fast path calls this for the ones that can (a host interrupt or NMI), the run loop for all.
void reinject_event(std::uint32_t info) {
    if ((vmcs::read(Field::entry_interruption_info) & interruption_bits::valid) != 0) return;
    vmcs::write(Field::entry_interruption_info, info & ~interruption_bits::nmi_unblocking_due_to_iret);
    const DecodedInterruption d = decode_interruption_info(info);
    if (d.has_error_code) vmcs::write(Field::entry_exception_error_code, vmcs::read(Field::idt_vectoring_error_code));
    if (d.type == InterruptionType::software_interrupt || d.type == InterruptionType::software_exception ||
        d.type == InterruptionType::privileged_software_exception) {
        vmcs::write(Field::entry_instruction_length, vmcs::read(Field::exit_instruction_length));
    }
}

bool guest_can_take_interrupt() {
    // RFLAGS.IF = 1, no STI or MOV-SS shadow, and no event already set up for this entry (SDM
    // "Checks on Guest Non-Register State", "Interruptibility State").
    if ((vmcs::read(Field::guest_rflags) & rflags::if_) == 0) return false;
    const std::uint64_t blocking = vmcs::read(Field::guest_interruptibility_state);
    if ((blocking & (interruptibility::blocking_by_sti | interruptibility::blocking_by_mov_ss)) != 0) return false;
    return (vmcs::read(Field::entry_interruption_info) & interruption_bits::valid) == 0;
}

bool deliver_pc_interrupt(Vcpu& guest) {
    PcPlatform& pc = *guest.pc;
    if (pc_pending_vector(pc) < 0) {
        set_interrupt_window(guest, false);
        return false;
    }
    if (!guest_can_take_interrupt()) {
        set_interrupt_window(guest, true);
        return false;
    }
    const int vector = pc_take_interrupt(pc);
    vmcs::write(Field::entry_interruption_info, inject_external_interrupt(static_cast<std::uint8_t>(vector)));
    // An interrupt ends a halt (SDM "HLT—Halt"): a guest halted natively is entered active.
    if (vmcs::read(Field::guest_activity_state) == activity::hlt) vmcs::write(Field::guest_activity_state, activity::active);
    if (vector == pc.lapic.timer_vector()) ++pc.counters.timer_injected;
    // The next one waits until the guest can take it again (the injected one clears RFLAGS.IF).
    set_interrupt_window(guest, pc_pending_vector(pc) >= 0);
    return true;
}

std::uint64_t guest_tsc_now(const Vcpu& guest) { return platform::rdtsc() + guest.tsc_offset; }

std::uint64_t pc_timer_due_host(const Vcpu& guest) {
    const Lapic& apic = guest.pc->lapic;
    if (!apic.timer_armed()) return ~0ull;
    return apic.timer_due() - guest.tsc_offset;
}

bool pc_timer_tick(Vcpu& guest) {
    PcPlatform& pc = *guest.pc;
    const bool requested = pc.lapic.timer_expired(guest_tsc_now(guest));
    if (requested) ++pc.counters.timer_fired;
    return requested;
}

} // namespace vmx
