// MOV to and from control registers, CLTS and LMSW (SDM "MOV—Move to/from Control Registers").
// CR0/CR4 writes exit only for bits the hypervisor owns (the guest/host masks): the guest sees its
// own value through the read shadow; the real register keeps VMX's fixed bits. CR8 exits keep the
// guest away from the real local APIC's TPR.
#include "vmx/arch/interruption.hpp"
#include "vmx/arch/x86.hpp"
#include "vmx/exits/exit_helpers.hpp"
#include "vmx/vmcs/vmcs_access.hpp"

namespace vmx {
namespace {

void write_owned(Field real_field, Field shadow_field, Field mask_field, std::uint64_t value) {
    const std::uint64_t owned = vmcs::read(mask_field);
    const std::uint64_t real = vmcs::read(real_field);
    vmcs::write(real_field, (real & owned) | (value & ~owned));
    vmcs::write(shadow_field, value);
}

} // namespace

ExitOutcome handle_cr_access(Vcpu& guest) {
    const CrAccessExit q = decode_cr_access(vmcs::read(Field::exit_qualification));
    if (q.access_type == 0 && q.cr == 0) {
        const std::uint64_t value = read_gpr(guest, q.gpr);
        // Leaving paging or protection from 64-bit code is #GP; our guests run in IA-32e mode.
        if ((value & cr0::pg) == 0 || (value & cr0::pe) == 0) {
            inject_exception(guest, vector::gp);
            return ExitOutcome::resume;
        }
        write_owned(Field::guest_cr0, Field::cr0_read_shadow, Field::cr0_guest_host_mask, value);
    } else if (q.access_type == 0 && q.cr == 4) {
        const std::uint64_t value = read_gpr(guest, q.gpr);
        // VMX is hidden from guests, so setting CR4.VMXE is #GP as on a CPU without VMX;
        // clearing PAE in IA-32e mode is #GP too.
        if ((value & cr4::vmxe) != 0 || (value & cr4::pae) == 0) {
            inject_exception(guest, vector::gp);
            return ExitOutcome::resume;
        }
        write_owned(Field::guest_cr4, Field::cr4_read_shadow, Field::cr4_guest_host_mask, value);
    } else if (q.access_type == 0 && q.cr == 3) {
        vmcs::write(Field::guest_cr3, read_gpr(guest, q.gpr));
    } else if (q.access_type == 1 && q.cr == 3) {
        write_gpr(guest, q.gpr, vmcs::read(Field::guest_cr3));
    } else if (q.access_type == 2) { // CLTS
        vmcs::write(Field::guest_cr0, vmcs::read(Field::guest_cr0) & ~cr0::ts);
        vmcs::write(Field::cr0_read_shadow, vmcs::read(Field::cr0_read_shadow) & ~cr0::ts);
    } else if (q.access_type == 3) { // LMSW: loads CR0[3:0] but cannot clear PE
        const std::uint64_t low = q.lmsw_source & 0xfu;
        const std::uint64_t shadow = vmcs::read(Field::cr0_read_shadow);
        const std::uint64_t value = (shadow & ~0xeull) | (low & 0xeu) | (shadow & cr0::pe) | (low & cr0::pe);
        vmcs::write(Field::cr0_read_shadow, value);
        vmcs::write(Field::guest_cr0, (vmcs::read(Field::guest_cr0) & ~0xeull) | (value & 0xeu));
    } else if (q.cr == 8) {
        // The guest's TPR is meaningless here (no virtual APIC): writes are ignored, reads give 0.
        if (q.access_type == 1) write_gpr(guest, q.gpr, 0);
    } else {
        inject_exception(guest, vector::ud);
        return ExitOutcome::resume;
    }
    advance_rip();
    return ExitOutcome::resume;
}

} // namespace vmx
