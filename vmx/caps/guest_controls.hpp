// The five control words for one Metronome guest, resolved against a CPU's capability MSRs.
// Every control Metronome depends on is mandatory: if the CPU refuses one, the guest does not run
// and the failure names the bit, the control word and the MSR. A few conveniences for the guest
// (VPID, RDTSCP, INVPCID, saving the preemption timer's value) are taken only where the CPU
// allows them. XSAVES/XRSTORS stays off:
// IA32_XSS is not switched per guest, so a guest gets #UD for them, as on a CPU without them.
#pragma once
#include <cstdint>

#include "vmx/caps/caps.hpp"
#include "vmx/caps/controls.hpp"
#include "vmx/lib/text.hpp"

namespace vmx {

// IA32_VMX_EPT_VPID_CAP bits the EPT builder relies on (SDM "VPID and EPT Capabilities").
namespace ept_cap {
inline constexpr std::uint64_t page_walk_length_4 = 1ull << 6;
inline constexpr std::uint64_t memory_type_wb = 1ull << 14;
} // namespace ept_cap

struct GuestControlRequest {
    // HLT exits to Metronome, which ends the guest's slice. When false, HLT exiting must be 0
    // and the guest halts inside its slice (re-entered with activity state HLT).
    bool yield_on_hlt = false;
    // The guest starts with CR0.PG = 0: needs "unrestricted guest", and "IA-32e mode guest" is
    // left 0 because VM entry requires CR0.PG = 1 with it (SDM "Checks on Guest Control
    // Registers, Debug Registers, and MSRs").
    bool paging_off_at_entry = false;
    // Tag the guest's TLB entries with a VPID, if the CPU can (optional).
    bool use_vpid = true;
    // External interrupts exit to Metronome instead of going through the guest's IDT.
    bool intercept_external_interrupts = true;
    // The guest's TSC is its own (`tsc = own`): RDTSC, RDTSCP and RDMSR IA32_TSC add the VMCS's
    // TSC offset, which the run loop moves back by the time the guest waited for the CPU.
    bool tsc_offsetting = false;
};

struct GuestControls {
    std::uint32_t pin = 0, primary = 0, secondary = 0, exit = 0, entry = 0;
    bool ok = false;   // failure_count == 0 and ept_ok
    bool vpid = false; // "enable VPID" is set (asked for and allowed)
    bool saves_preemption_timer = false; // "save VMX-preemption timer value" is set (allowed)
    // "enable EPT" is granted and EPT_VPID_CAP reports 4-level walks and WB paging structures.
    bool ept_ok = false;
    std::uint64_t ept_missing = 0; // ept_cap bits that are 0 although EPT is granted
    // At most one entry per control word, in the order pin, primary, secondary, exit, entry;
    // each carries only the mandatory bits that were refused.
    ControlResolution failures[8] = {};
    unsigned failure_count = 0;
};

GuestControls resolve_guest_controls(const GuestControlRequest& request, const VmxCaps& caps);

// Every failure in words, one sentence per line (describe_refusal, then EPT capabilities).
// Writes nothing when `controls.ok`.
void describe_guest_control_failures(const GuestControls& controls, Text& out);

} // namespace vmx
