// RDMSR, WRMSR and RDPMC. Only MSRs outside the set switched per guest exit (the MSR bitmap,
// vmx/vmcs/msr_bitmap.hpp), and the writes of those the hypervisor switches itself and knows from
// their writes (the SYSCALL MSRs, TSC_AUX): checked as the processor checks them, then written to the CPU and
// kept in the guest's Vcpu, which a switch compares instead of reading them back. For the guests
// of guest/ABI.md every other MSR belongs to the host, and touching one gets what a CPU without it
// would give, #GP(0). A Linux guest's PC answers its local APIC's
// MSRs (IA32_APIC_BASE, the x2APIC registers in x2APIC mode, IA32_TSC_DEADLINE) and the few a kernel reads
// without a fault handler (IA32_MISC_ENABLE, the microcode revision, IA32_FEATURE_CONTROL); every
// other MSR is #GP(0) for it too, which Linux survives after its early IDT. Guests have no
// performance counters (CPUID leaf 0xA reads zero), so RDPMC of any counter is #GP(0).
#include "vmx/arch/interruption.hpp"
#include "vmx/arch/msr.hpp"
#include "vmx/devices/pc.hpp"
#include "vmx/exits/exit_helpers.hpp"
#include "vmx/run/platform.hpp"

namespace vmx {
namespace {

ExitOutcome fault(Vcpu& guest) {
    inject_exception(guest, vector::gp, 0);
    return ExitOutcome::resume;
}

ExitOutcome read_done(Vcpu& guest, std::uint64_t value) {
    guest.regs.rax = value & 0xffffffffull;
    guest.regs.rdx = value >> 32;
    advance_rip();
    return ExitOutcome::resume;
}

// SDM "WRMSR": #GP(0) for a non-canonical address in IA32_LSTAR (the check covers 48-bit
// addresses, which every processor accepts), and for reserved bits set: bits 63:32 of IA32_FMASK
// and of IA32_TSC_AUX. STAR and CSTAR take any value.
bool switched_msr_value_valid(std::uint32_t msr, std::uint64_t value) {
    switch (msr) {
    case msr::ia32_lstar: return static_cast<std::uint64_t>(static_cast<std::int64_t>(value << 16) >> 16) == value;
    case msr::ia32_fmask:
    case msr::ia32_tsc_aux: return (value >> 32) == 0;
    default: return true;
    }
}

[[gnu::noinline]] ExitOutcome write_switched(Vcpu& guest, std::uint32_t msr, std::uint64_t* slot, std::uint64_t value) {
    // The CPU refuses TSC_AUX when it has no RDTSCP: the guest gets the #GP it would get there.
    if (!switched_msr_value_valid(msr, value) || !platform::write_switched_msr(msr, value)) return fault(guest);
    *slot = value;
    if (value != 0) guest.syscall_msrs_nonzero = true;
    advance_rip();
    return ExitOutcome::resume;
}

// The x2APIC MSRs exist only in x2APIC mode (SDM "x2APIC Register Address Space": #GP otherwise);
// IA32_TSC_DEADLINE in both.
bool is_apic_msr(const Vcpu& guest, std::uint32_t msr) {
    if (msr == msr::ia32_tsc_deadline) return true;
    return msr >= x2apic::first_msr && msr <= x2apic::last_msr && guest.pc->lapic.x2apic_mode();
}

[[gnu::noinline]] ExitOutcome pc_rdmsr(Vcpu& guest, std::uint32_t msr) {
    switch (msr) {
    case msr::ia32_apic_base: return read_done(guest, guest.pc->lapic.apic_base());
    case msr::ia32_misc_enable: return read_done(guest, msr::misc_enable_fast_strings);
    case msr::ia32_bios_sign_id: return read_done(guest, 0);
    // Locked, with VMX off: the kernel then leaves it alone (and VMX is hidden in CPUID).
    case msr::ia32_feature_control: return read_done(guest, msr::feature_control_lock);
    default: break;
    }
    if (!is_apic_msr(guest, msr)) return fault(guest);
    std::uint64_t value = 0;
    if (guest.pc->lapic.read(msr, guest_tsc_now(guest), &value) == MsrAccess::fault) return fault(guest);
    return read_done(guest, value);
}

[[gnu::noinline]] ExitOutcome pc_wrmsr(Vcpu& guest, std::uint32_t msr, std::uint64_t value) {
    switch (msr) {
    case msr::ia32_apic_base:
        // The APIC stays on, in its mode, at its address: changing any of it is not offered.
        if (value != guest.pc->lapic.apic_base()) return fault(guest);
        advance_rip();
        return ExitOutcome::resume;
    case msr::ia32_misc_enable:
    case msr::ia32_bios_sign_id: // the kernel writes 0 before reading the revision back
        advance_rip();
        return ExitOutcome::resume;
    default: break;
    }
    if (!is_apic_msr(guest, msr)) return fault(guest);
    const MsrAccess a = guest.pc->lapic.write(msr, value, guest_tsc_now(guest));
    if (a == MsrAccess::fault) return fault(guest);
    advance_rip();
    if (a == MsrAccess::timer) {
        if (guest.pc->lapic.timer_armed()) ++guest.pc->counters.timer_armed;
        return ExitOutcome::timer_changed; // the run loop tells the scheduler
    }
    return ExitOutcome::resume;
}

} // namespace

// Each path a call of its own (a tail call), so that the common answer, #GP for a host-owned
// MSR, takes no stack frame.
ExitOutcome handle_msr(Vcpu& guest, std::uint16_t reason) {
    const auto msr = static_cast<std::uint32_t>(guest.regs.rcx);
    if (reason == exit_reason::wrmsr) {
        if (std::uint64_t* slot = syscall_msr_slot(guest.switched.msrs, msr))
            return write_switched(guest, msr, slot, (guest.regs.rdx << 32) | (guest.regs.rax & 0xffffffffull));
    }
    if (guest.pc == nullptr || reason == exit_reason::rdpmc) return fault(guest);
    if (reason == exit_reason::rdmsr) return pc_rdmsr(guest, msr);
    return pc_wrmsr(guest, msr, (guest.regs.rdx << 32) | (guest.regs.rax & 0xffffffffull));
}

} // namespace vmx
