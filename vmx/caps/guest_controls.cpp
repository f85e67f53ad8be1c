#include "vmx/caps/guest_controls.hpp"

namespace vmx {
namespace {

// Resolves `mandatory | optional`, keeping only the optional bits the CPU allows, and records
// a failure when a mandatory bit (or a required-clear bit) is refused.
std::uint32_t resolve_into(GuestControls& g, ControlSet set, std::uint32_t mandatory,
                           std::uint32_t optional, std::uint32_t required_clear,
                           const VmxCaps& caps) {
    const std::uint32_t allowed = control_capability(set, caps).allowed_1;
    const ControlResolution r =
        resolve_control(set, mandatory | (optional & allowed), required_clear, caps);
    if (!r.ok() && g.failure_count < sizeof g.failures / sizeof g.failures[0]) {
        g.failures[g.failure_count++] = r;
    }
    return r.value;
}

} // namespace

GuestControls resolve_guest_controls(const GuestControlRequest& req, const VmxCaps& caps) {
    GuestControls g;

    // Pin-based: the preemption timer is how a slice ends, so it is not optional. NMIs always
    // exit: a guest must not see the host's NMIs through its own IDT.
    std::uint32_t pin_want = pin::nmi_exiting | pin::activate_preemption_timer;
    if (req.intercept_external_interrupts) pin_want |= pin::external_interrupt_exiting;
    g.pin = resolve_into(g, ControlSet::pin_based, pin_want, 0, 0, caps);

    // Primary: every port access exits (unconditional I/O exiting, with "use I/O bitmaps" 0 since
    // it would override it), MSR accesses exit only as the MSR bitmap says. HLT exiting is 1
    // exactly when the guest yields on HLT; a CPU that forces it on is a failure, not a detail.
    // CR3-load/-store exiting are not wanted; a CPU without TRUE MSRs forces them on, and then
    // the exit handler must emulate MOV to/from CR3. MOV-DR exiting stays 0: the guest owns
    // DR0-DR7 (Metronome switches them per guest).
    std::uint32_t primary_want =
        proc::unconditional_io_exiting | proc::use_msr_bitmaps | proc::activate_secondary_controls |
        // MONITOR/MWAIT could put the CPU to sleep outside the guest's slice, CR8 would reach
        // the real local APIC's TPR, RDPMC would read the host's and the other guests'
        // performance counters: all exit and are answered by the exit handler.
        proc::mwait_exiting | proc::monitor_exiting | proc::cr8_load_exiting | proc::cr8_store_exiting |
        proc::rdpmc_exiting;
    std::uint32_t primary_clear = proc::use_io_bitmaps | proc::mov_dr_exiting;
    if (req.tsc_offsetting) primary_want |= proc::use_tsc_offsetting;
    if (req.yield_on_hlt) {
        primary_want |= proc::hlt_exiting;
    } else {
        primary_clear |= proc::hlt_exiting;
    }
    g.primary =
        resolve_into(g, ControlSet::primary_processor_based, primary_want, 0, primary_clear, caps);

    // Secondary: EPT always; unrestricted guest only for a guest that starts with paging off
    // (real or protected mode without paging is otherwise an invalid guest state). Optional: VPID;
    // RDTSCP, INVPCID and XSAVES/XRSTORS, which #UD in the guest when their control is 0
    // (SDM "Secondary Processor-Based VM-Execution Controls"), the architectural answer for a
    // CPU that cannot pass them through.
    std::uint32_t secondary_want = proc2::enable_ept;
    if (req.paging_off_at_entry) secondary_want |= proc2::unrestricted_guest;
    // WBINVD exiting keeps a guest from flushing the caches the others use (it exits and does
    // nothing, like INVD: guests have no devices whose memory needs it).
    std::uint32_t secondary_optional =
        proc2::enable_rdtscp | proc2::enable_invpcid | proc2::wbinvd_exiting;
    if (req.use_vpid) secondary_optional |= proc2::enable_vpid;
    g.secondary = resolve_into(g, ControlSet::secondary_processor_based, secondary_want,
                               secondary_optional, 0, caps);
    g.vpid = (g.secondary & proc2::enable_vpid) != 0;

    // VM exit: return to a 64-bit host, take the interrupt vector with the exit (the host runs
    // with interrupts off), switch EFER and PAT. Optional: keep what is left of the preemption
    // timer, so a slice can continue where it stopped without a TSC read; without it the run
    // loop re-arms the timer from the slice's absolute deadline (vmx/run/run_loop.hpp).
    const std::uint32_t exit_want = exit_ctl::host_address_space_size |
                                    exit_ctl::acknowledge_interrupt_on_exit | exit_ctl::save_efer |
                                    exit_ctl::load_efer | exit_ctl::save_pat | exit_ctl::load_pat |
                                    // DR7 and IA32_DEBUGCTL are per guest (SDM "VM-Exit Controls").
                                    exit_ctl::save_debug_controls;
    g.exit = resolve_into(g, ControlSet::exit, exit_want, exit_ctl::save_preemption_timer, 0, caps);
    g.saves_preemption_timer = (g.exit & exit_ctl::save_preemption_timer) != 0;

    // VM entry: load the guest's EFER and PAT; 64-bit guests enter in IA-32e mode. Entry to SMM
    // and deactivate dual-monitor treatment must be 0 outside SMM (SDM "Checks on VM-Entry
    // Control Fields").
    std::uint32_t entry_want = entry_ctl::load_efer | entry_ctl::load_pat | entry_ctl::load_debug_controls;
    if (!req.paging_off_at_entry) entry_want |= entry_ctl::ia32e_mode_guest;
    const std::uint32_t entry_clear = entry_ctl::entry_to_smm | entry_ctl::deactivate_dual_monitor;
    g.entry = resolve_into(g, ControlSet::entry, entry_want, 0, entry_clear, caps);

    // EPT as Metronome builds it: 4-level tables in write-back memory. EPT_VPID_CAP is only
    // meaningful when EPT was granted; a refused EPT is already a failure above.
    if ((g.secondary & proc2::enable_ept) != 0) {
        constexpr std::uint64_t needed = ept_cap::page_walk_length_4 | ept_cap::memory_type_wb;
        g.ept_missing = needed & ~caps.ept_vpid_cap;
        g.ept_ok = g.ept_missing == 0;
    }
    g.ok = g.failure_count == 0 && g.ept_ok;
    return g;
}

void describe_guest_control_failures(const GuestControls& g, Text& out) {
    bool first = true;
    auto sentence = [&]() -> Text& {
        if (!first) out.chr('\n');
        first = false;
        return out;
    };
    for (unsigned i = 0; i < g.failure_count; ++i) {
        describe_refusal(g.failures[i], sentence());
    }
    if ((g.ept_missing & ept_cap::page_walk_length_4) != 0) {
        sentence().str(
            "CPU does not support 4-level EPT page walks (IA32_VMX_EPT_VPID_CAP bit 6 = 0).");
    }
    if ((g.ept_missing & ept_cap::memory_type_wb) != 0) {
        sentence().str("CPU does not support write-back EPT paging structures "
                       "(IA32_VMX_EPT_VPID_CAP bit 14 = 0).");
    }
}

} // namespace vmx
