// Completing, faulting and refusing guest instructions: what every family of exit handlers does
// to the guest's state (vmx/exits/exit_helpers.hpp).
#include "vmx/arch/interruption.hpp"
#include "vmx/arch/x86.hpp"
#include "vmx/exits/exit_helpers.hpp"
#include "vmx/lib/text.hpp"
#include "vmx/vmcs/vmcs_access.hpp"

namespace vmx {

// Completing an instruction ends any STI or MOV-SS shadow (SDM "Interruptibility State"):
// leaving the bits set would make a later injection fail the VM-entry checks, e.g. for the idle
// loop's "sti; hlt". And an instruction completed with RFLAGS.TF = 1 raises a single-step #DB
// trap (SDM "Single-Step Exception Condition"): it is left pending (BS), so VM entry delivers it
// before the guest's next instruction, exactly where the processor would have.
namespace {

// One body for both, inlined into each: advance_rip is on every handled exit's path.
[[gnu::always_inline]] inline void complete_instruction(std::uint64_t length) {
    vmcs::write(Field::guest_rip, vmcs::read(Field::guest_rip) + length);
    const std::uint64_t blocking = vmcs::read(Field::guest_interruptibility_state);
    const std::uint64_t shadow = interruptibility::blocking_by_sti | interruptibility::blocking_by_mov_ss;
    if ((blocking & shadow) != 0) vmcs::write(Field::guest_interruptibility_state, blocking & ~shadow);
    if ((vmcs::read(Field::guest_rflags) & rflags::tf) != 0) {
        const std::uint64_t pending = vmcs::read(Field::guest_pending_debug_exceptions);
        vmcs::write(Field::guest_pending_debug_exceptions, pending | pending_debug::single_step);
    }
}

} // namespace

void advance_rip() { complete_instruction(vmcs::read(Field::exit_instruction_length)); }

void advance_rip_by(std::uint64_t length) { complete_instruction(length); }

void inject_exception(Vcpu& guest, std::uint8_t vec, std::uint32_t error_code) {
    vmcs::write(Field::entry_interruption_info, inject_hardware_exception(vec));
    if (exception_has_error_code(vec)) vmcs::write(Field::entry_exception_error_code, error_code);
    if (vec == vector::ud) ++guest.counters.ud_injected;
    if (vec == vector::gp) ++guest.counters.gp_injected;
}

void inject_page_fault(Vcpu& guest, std::uint64_t linear, std::uint32_t error_code) {
    guest.regs.cr2 = linear; // vm_entry.S loads CR2 from here right before the entry
    guest.fast.reload = 1;
    inject_exception(guest, vector::pf, error_code);
}

ExitOutcome stop_for_ept_violation(Vcpu& guest, std::uint64_t gpa, GuestAccess access,
                                   std::uint64_t qualification) {
    const char* words = access == GuestAccess::fetch ? "instruction fetch" : access == GuestAccess::write ? "write" : "read";
    FixedText<sizeof(GuestStop::detail)> text;
    text.str("EPT violation: ").str(words).str(" at guest-physical ").hex(gpa);
    text.str(" (outside its ").dec(guest.memory_size >> 10).str(" KiB)");
    stop_guest(guest, StopReason::ept_violation, exit_reason::ept_violation, text.c_str());
    guest.stop.address = gpa;
    guest.stop.code = qualification;
    return ExitOutcome::stopped;
}

std::uint64_t guest_visible_cr4() {
    const std::uint64_t owned = vmcs::read(Field::cr4_guest_host_mask);
    return (vmcs::read(Field::guest_cr4) & ~owned) | (vmcs::read(Field::cr4_read_shadow) & owned);
}

std::uint64_t read_gpr(Vcpu& guest, unsigned number) {
    if (number == 4) return vmcs::read(Field::guest_rsp);
    const std::uint64_t* r = gpr_by_number(guest.regs, number);
    return r != nullptr ? *r : 0;
}

void write_gpr(Vcpu& guest, unsigned number, std::uint64_t value) {
    if (number == 4) {
        vmcs::write(Field::guest_rsp, value);
        return;
    }
    if (std::uint64_t* r = gpr_by_number(guest.regs, number)) *r = value;
    if (number == 5 || number >= 12) guest.fast.reload = 1;
}

} // namespace vmx
