// Faulting and refusing guest instructions: what every family of exit handlers does to the
// guest's state (vmx/exits/exit_helpers.hpp, where completing one, advance_rip, is inline).
#include "vmx/arch/interruption.hpp"
#include "vmx/arch/x86.hpp"
#include "vmx/exits/exit_helpers.hpp"
#include "vmx/lib/text.hpp"
#include "vmx/vmcs/vmcs_access.hpp"

namespace vmx {

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
