// The VMCS for one guest as a plan: the ordered (field, value) writes the shell applies with
// VMWRITE. Pure, so the same plan is unit-tested, printed by tools/vmcs-plan for any capability
// file, and written into real VMCSs by metronome.efi.
#pragma once
#include <cstdint>

#include "vmx/caps/caps.hpp"
#include "vmx/caps/guest_controls.hpp"
#include "vmx/guest/guest_layout.hpp"
#include "vmx/lib/text.hpp"
#include "vmx/arch/vmcs_fields.hpp"

namespace vmx {

// The host state VM exits return to (SDM "Host-State Area"), as the shell read it.
struct HostState {
    std::uint64_t cr0 = 0, cr3 = 0, cr4 = 0;
    std::uint16_t cs = 0, ss = 0, ds = 0, es = 0, fs = 0, gs = 0, tr = 0;
    std::uint64_t fs_base = 0, gs_base = 0, tr_base = 0, gdtr_base = 0, idtr_base = 0;
    std::uint64_t sysenter_cs = 0, sysenter_esp = 0, sysenter_eip = 0;
    std::uint64_t efer = 0, pat = 0;
    std::uint64_t rip = 0;  // the VM-exit entry point; HOST_RSP is written at each entry
};

struct GuestPlanInput {
    GuestControlRequest controls;
    GuestEntryState entry;           // registers the guest starts with (guest/ABI.md)
    std::uint64_t eptp = 0;
    std::uint16_t vpid = 1;
    std::uint64_t msr_bitmap = 0;    // physical address of the 4 KiB MSR bitmap
    std::uint32_t preemption_timer = 0;
    std::uint64_t pat = 0x0007040600070406ull;  // the power-on default PAT
};

struct PlanWrite {
    Field field;
    std::uint64_t value;
};

struct VmcsPlan {
    static constexpr unsigned capacity = 112;
    PlanWrite writes[capacity] = {};
    unsigned count = 0;
    bool overflow = false;
    GuestControls controls{};

    void add(Field field, std::uint64_t value) {
        if (count == capacity) {
            overflow = true;
            return;
        }
        writes[count++] = PlanWrite{field, value};
    }
    bool ok() const { return controls.ok && !overflow; }
    // The value a plan writes to a field (the last write wins), or `fallback`.
    std::uint64_t value_of(Field field, std::uint64_t fallback = 0) const;
    bool has(Field field) const;
};

// Builds the plan. On a CPU that cannot run the guest, `plan.controls` carries the refused
// controls and the plan holds no writes.
void build_guest_plan(const VmxCaps& caps, const GuestPlanInput& input, const HostState& host,
                      VmcsPlan& plan);

// Why the plan is not usable, in words (describe_guest_control_failures and overflow).
void describe_plan_failure(const VmcsPlan& plan, Text& out);

// The guest/host masks: CR bits that the guest may not change on its own (SDM "Guest/Host
// Masks and Read Shadows for CR0 and CR4"): the VMX-fixed bits, PE/PG exempt with
// unrestricted guest.
std::uint64_t cr0_owned_bits(const VmxCaps& caps, bool unrestricted_guest);
std::uint64_t cr4_owned_bits(const VmxCaps& caps);

} // namespace vmx
