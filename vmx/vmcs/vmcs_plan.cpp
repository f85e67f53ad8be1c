#include "vmx/vmcs/vmcs_plan.hpp"

#include "vmx/arch/control_registers.hpp"
#include "vmx/arch/segments.hpp"

namespace vmx {
namespace {

struct SegmentFields {
    Field selector, base, limit, access_rights;
};

constexpr SegmentFields kEs{Field::guest_es_selector, Field::guest_es_base, Field::guest_es_limit, Field::guest_es_access_rights};
constexpr SegmentFields kCs{Field::guest_cs_selector, Field::guest_cs_base, Field::guest_cs_limit, Field::guest_cs_access_rights};
constexpr SegmentFields kSs{Field::guest_ss_selector, Field::guest_ss_base, Field::guest_ss_limit, Field::guest_ss_access_rights};
constexpr SegmentFields kDs{Field::guest_ds_selector, Field::guest_ds_base, Field::guest_ds_limit, Field::guest_ds_access_rights};
constexpr SegmentFields kFs{Field::guest_fs_selector, Field::guest_fs_base, Field::guest_fs_limit, Field::guest_fs_access_rights};
constexpr SegmentFields kGs{Field::guest_gs_selector, Field::guest_gs_base, Field::guest_gs_limit, Field::guest_gs_access_rights};
constexpr SegmentFields kLdtr{Field::guest_ldtr_selector, Field::guest_ldtr_base, Field::guest_ldtr_limit, Field::guest_ldtr_access_rights};
constexpr SegmentFields kTr{Field::guest_tr_selector, Field::guest_tr_base, Field::guest_tr_limit, Field::guest_tr_access_rights};

void add_segment(VmcsPlan& plan, const SegmentFields& f, const SegmentState& s) {
    plan.add(f.selector, s.selector);
    plan.add(f.base, s.base);
    plan.add(f.limit, s.limit);
    plan.add(f.access_rights, s.access_rights);
}

// A flat 32-bit code segment (type B, S, P, D/B, G) for a guest that starts without paging.
constexpr SegmentState flat_code32_segment(std::uint16_t selector) {
    return SegmentState{selector, 0, 0xffffffffu, 0xc09bu};
}

void add_controls(VmcsPlan& plan) {
    const GuestControls& c = plan.controls;
    plan.add(Field::pin_based_controls, c.pin);
    plan.add(Field::primary_processor_based_controls, c.primary);
    if ((c.primary & proc::activate_secondary_controls) != 0) {
        plan.add(Field::secondary_processor_based_controls, c.secondary);
    }
    plan.add(Field::exit_controls, c.exit);
    plan.add(Field::entry_controls, c.entry);
}

void add_execution_state(const VmxCaps& caps, const GuestPlanInput& in, VmcsPlan& plan,
                         std::uint64_t guest_cr0, std::uint64_t guest_cr4) {
    const GuestControls& c = plan.controls;
    const bool unrestricted = (c.secondary & proc2::unrestricted_guest) != 0;
    // Every exception goes straight to the guest's IDT: a guest's faults are its own business.
    plan.add(Field::exception_bitmap, 0);
    plan.add(Field::page_fault_error_code_mask, 0);
    plan.add(Field::page_fault_error_code_match, 0);
    plan.add(Field::cr3_target_count, 0);
    plan.add(Field::cr0_guest_host_mask, cr0_owned_bits(caps, unrestricted));
    plan.add(Field::cr0_read_shadow, guest_cr0);
    plan.add(Field::cr4_guest_host_mask, cr4_owned_bits(caps));
    plan.add(Field::cr4_read_shadow, guest_cr4);
    plan.add(Field::ept_pointer, in.eptp);
    if (c.vpid) plan.add(Field::virtual_processor_id, in.vpid);
    if ((c.primary & proc::use_msr_bitmaps) != 0) plan.add(Field::msr_bitmap_address, in.msr_bitmap);
    plan.add(Field::vmx_preemption_timer_value, in.preemption_timer);
    // No shadow VMCS: the link pointer must be all ones (SDM "Checks on Guest Non-Register State").
    plan.add(Field::vmcs_link_pointer, ~0ull);
    plan.add(Field::exit_msr_store_count, 0);
    plan.add(Field::exit_msr_load_count, 0);
    plan.add(Field::entry_msr_load_count, 0);
    plan.add(Field::entry_interruption_info, 0);
}

void add_host_state(const HostState& h, VmcsPlan& plan) {
    plan.add(Field::host_cr0, h.cr0);
    plan.add(Field::host_cr3, h.cr3);
    plan.add(Field::host_cr4, h.cr4);
    // Host selectors must have RPL = 0 and TI = 0 (SDM "Checks on Host Segment and
    // Descriptor-Table Registers").
    plan.add(Field::host_es_selector, h.es & 0xfff8u);
    plan.add(Field::host_cs_selector, h.cs & 0xfff8u);
    plan.add(Field::host_ss_selector, h.ss & 0xfff8u);
    plan.add(Field::host_ds_selector, h.ds & 0xfff8u);
    plan.add(Field::host_fs_selector, h.fs & 0xfff8u);
    plan.add(Field::host_gs_selector, h.gs & 0xfff8u);
    plan.add(Field::host_tr_selector, h.tr & 0xfff8u);
    plan.add(Field::host_fs_base, h.fs_base);
    plan.add(Field::host_gs_base, h.gs_base);
    plan.add(Field::host_tr_base, h.tr_base);
    plan.add(Field::host_gdtr_base, h.gdtr_base);
    plan.add(Field::host_idtr_base, h.idtr_base);
    plan.add(Field::host_ia32_sysenter_cs, h.sysenter_cs);
    plan.add(Field::host_ia32_sysenter_esp, h.sysenter_esp);
    plan.add(Field::host_ia32_sysenter_eip, h.sysenter_eip);
    plan.add(Field::host_ia32_efer, h.efer);
    plan.add(Field::host_ia32_pat, h.pat);
    plan.add(Field::host_rip, h.rip);
}

void add_guest_state(const GuestPlanInput& in, VmcsPlan& plan, std::uint64_t cr0,
                     std::uint64_t cr4) {
    const GuestEntryState& e = in.entry;
    const bool long_mode = !in.controls.paging_off_at_entry;
    plan.add(Field::guest_cr0, cr0);
    plan.add(Field::guest_cr3, e.cr3);
    plan.add(Field::guest_cr4, cr4);
    plan.add(Field::guest_dr7, 0x400);
    plan.add(Field::guest_rsp, e.rsp);
    plan.add(Field::guest_rip, e.rip);
    plan.add(Field::guest_rflags, 0x2);
    const SegmentState data = flat_data_segment(metronome::abi::data_selector);
    add_segment(plan, kEs, data);
    add_segment(plan, kCs, long_mode ? flat_code64_segment(metronome::abi::code_selector)
                                     : flat_code32_segment(metronome::abi::code_selector));
    add_segment(plan, kSs, data);
    add_segment(plan, kDs, data);
    add_segment(plan, kFs, data);
    add_segment(plan, kGs, data);
    add_segment(plan, kLdtr, unusable_segment());
    add_segment(plan, kTr, busy_tss64_segment(metronome::abi::tss_selector, e.tss_base, metronome::abi::tss_limit));
    plan.add(Field::guest_gdtr_base, e.gdt_base);
    plan.add(Field::guest_gdtr_limit, metronome::abi::gdt_limit);
    plan.add(Field::guest_idtr_base, 0);
    plan.add(Field::guest_idtr_limit, 0);
    plan.add(Field::guest_ia32_debugctl, 0);
    plan.add(Field::guest_ia32_sysenter_cs, 0);
    plan.add(Field::guest_ia32_sysenter_esp, 0);
    plan.add(Field::guest_ia32_sysenter_eip, 0);
    plan.add(Field::guest_ia32_efer, long_mode ? e.efer : 0);
    plan.add(Field::guest_ia32_pat, in.pat);
    plan.add(Field::guest_activity_state, 0);
    plan.add(Field::guest_interruptibility_state, 0);
    plan.add(Field::guest_pending_debug_exceptions, 0);
}

} // namespace

std::uint64_t VmcsPlan::value_of(Field field, std::uint64_t fallback) const {
    for (unsigned i = count; i > 0; --i) {
        if (writes[i - 1].field == field) return writes[i - 1].value;
    }
    return fallback;
}

bool VmcsPlan::has(Field field) const {
    for (unsigned i = 0; i < count; ++i) {
        if (writes[i].field == field) return true;
    }
    return false;
}

std::uint64_t cr0_owned_bits(const VmxCaps& caps, bool unrestricted_guest) {
    std::uint64_t owned = (caps.cr0_fixed0 | ~caps.cr0_fixed1) & 0xffffffffull;
    if (unrestricted_guest) owned &= ~(cr0::pe | cr0::pg);
    return owned;
}

std::uint64_t cr4_owned_bits(const VmxCaps& caps) {
    return (caps.cr4_fixed0 | ~caps.cr4_fixed1) & 0xffffffffull;
}

void build_guest_plan(const VmxCaps& caps, const GuestPlanInput& input, const HostState& host,
                      VmcsPlan& plan) {
    plan = VmcsPlan{};
    plan.controls = resolve_guest_controls(input.controls, caps);
    if (!plan.controls.ok) return;

    const bool unrestricted = (plan.controls.secondary & proc2::unrestricted_guest) != 0;
    // A guest that starts without paging: flat protected mode, no PAE, no long mode.
    const std::uint64_t visible_cr0 = input.controls.paging_off_at_entry ? (cr0::pe | cr0::et | cr0::ne) : input.entry.cr0;
    const std::uint64_t visible_cr4 = input.controls.paging_off_at_entry ? 0 : input.entry.cr4;
    const std::uint64_t cr0 = adjust_cr0(visible_cr0, caps, unrestricted);
    const std::uint64_t cr4 = adjust_cr4(visible_cr4, caps);

    add_controls(plan);
    add_execution_state(caps, input, plan, visible_cr0, visible_cr4);
    add_host_state(host, plan);
    add_guest_state(input, plan, cr0, cr4);
}

void describe_plan_failure(const VmcsPlan& plan, Text& out) {
    describe_guest_control_failures(plan.controls, out);
    if (plan.overflow) out.str("the VMCS plan has more writes than its capacity\n");
}

} // namespace vmx
