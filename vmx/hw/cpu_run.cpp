#include "vmx/hw/session.hpp"

#include "vmx/caps/caps_read.hpp"
#include "vmx/caps/guest_controls.hpp"
#include "vmx/hw/cpu.hpp"
#include "vmx/hw/cpu_state.hpp"
#include "vmx/hw/host_features.hpp"
#include "vmx/hw/vmx_instructions.hpp"
#include "vmx/arch/msr.hpp"
#include "vmx/arch/vmcs_field_catalogue.hpp"
#include "vmx/vmcs/vmcs_access.hpp"
#include "vmx/vmcs/vmcs_plan.hpp"

// One CPU's part of a session (vmx/hw/session.hpp, run_cpu), on that CPU: everything here
// touches only its own CpuRun, its block and its guests' VMCSs.
namespace vmx::hw {
namespace {

HostState read_host_state(const CpuBlock& block) {
    HostState h;
    h.cr0 = read_cr0();
    h.cr3 = read_cr3();
    h.cr4 = read_cr4();
    h.cs = read_cs();
    h.ss = read_ss();
    h.ds = read_ds();
    h.es = read_es();
    h.fs = read_fs();
    h.gs = read_gs();
    h.tr = block.root.host_tr();
    h.fs_base = rdmsr(msr::ia32_fs_base);
    h.gs_base = rdmsr(msr::ia32_gs_base);  // this CPU's header (run_cpu): this_cpu() after exits
    h.tr_base = block.root.host_tr_base();
    h.gdtr_base = block.root.host_gdtr_base();
    h.idtr_base = sidt().base;
    h.sysenter_cs = rdmsr(msr::ia32_sysenter_cs);
    h.sysenter_esp = rdmsr(msr::ia32_sysenter_esp);
    h.sysenter_eip = rdmsr(msr::ia32_sysenter_eip);
    h.efer = rdmsr(msr::ia32_efer);
    h.pat = rdmsr(msr::ia32_pat);
    h.rip = reinterpret_cast<std::uint64_t>(&metronome_vm_exit);
    return h;
}

// The VMCS of the guest at `position`, written on the CPU that will run it (its host state is
// that CPU's).
bool write_vmcs(const SessionSetup& s, const CpuRun& run, std::size_t k, const HostState& host, Text& error) {
    Vcpu& ctx = run.guests[k];
    CpuBlock& block = *run.block;
    const std::size_t i = ctx.guest_number;
    const GuestConfig& gc = s.config->guests[i];
    VmcsPlan& plan = block.plan;
    if (vmclear(ctx.vmcs_physical) != VmxStatus::ok || vmptrld(ctx.vmcs_physical) != VmxStatus::ok) {
        error.str("guest ").str(gc.name).str(": VMCLEAR/VMPTRLD of its VMCS failed");
        return false;
    }
    GuestPlanInput in;
    in.controls.yield_on_hlt = gc.yield_on_hlt;
    in.controls.tsc_offsetting = gc.tsc == TscMode::own;
    in.entry = run.entry[i];
    in.eptp = ctx.eptp;
    in.vpid = static_cast<std::uint16_t>(i + 1);  // unique on the machine, whatever the CPU
    in.msr_bitmap = run.msr_bitmap;
    build_guest_plan(s.caps, in, host, plan);
    if (!plan.ok()) {
        error.str("guest ").str(gc.name).str(": ");
        describe_plan_failure(plan, error);
        return false;
    }
    for (unsigned w = 0; w < plan.count; ++w) {
        if (!vmcs::write(plan.writes[w].field, plan.writes[w].value)) {
            error.str("guest ").str(gc.name).str(": VMWRITE ").str(field_name(plan.writes[w].field)).str(" = ");
            error.hex(plan.writes[w].value).str(" failed: ").str(vm_instruction_error_text(block.last_instruction_error));
            return false;
        }
    }
    // TEST ONLY (test_corrupt_guest_state): RFLAGS with bit 1 clear breaks a guest-state check
    // (SDM "Checks on Guest RIP, RFLAGS, and SSP": bit 1 must be 1), so this guest's VM entry
    // fails with exit reason 33 and the run loop stops it; the other guests are not touched.
    if (gc.test_corrupt_guest_state && !vmcs::write(Field::guest_rflags, 0)) {
        error.str("guest ").str(gc.name).str(": VMWRITE of the test-only corrupt RFLAGS failed");
        return false;
    }
    return true;
}

bool same_caps(const VmxCaps& a, const VmxCaps& b) {
    const auto* x = reinterpret_cast<const unsigned char*>(&a);
    const auto* y = reinterpret_cast<const unsigned char*>(&b);
    for (std::size_t k = 0; k < sizeof(VmxCaps); ++k)
        if (x[k] != y[k]) return false;
    return true;
}

// What the CPU's own capability MSRs say, compared with the boot CPU's (which built the plans).
bool caps_match_boot_cpu(const SessionSetup& s) {
    auto read = [](std::uint32_t index) { return rdmsr(index); };
    return same_caps(read_vmx_caps(make_msr_reader(read)), s.caps);
}

// The guests' VMCSs back out of this CPU and VMX left, after a failure inside run_cpu.
void abandon(CpuRun& run, std::size_t written) {
    for (std::size_t j = 0; j < written; ++j) vmclear(run.guests[j].vmcs_physical);
    FixedText<200> ignored;
    run.block->root.leave(ignored);
}

} // namespace

void run_cpu(const SessionSetup& s, CpuRun& run) {
    CpuBlock& block = *run.block;
    Text error(run.error, sizeof run.error);
    const bool interrupts_were_on = (read_rflags() & rflags::if_) != 0;
    cli();
    // this_cpu() is this block from here on (vmx/hw/cpu_block.hpp); the firmware's GS base back
    // at the end.
    const std::uint64_t firmware_gs_base = rdmsr(msr::ia32_gs_base);
    wrmsr(msr::ia32_gs_base, reinterpret_cast<std::uint64_t>(&block.header));
    auto finish = [&]() {
        wrmsr(msr::ia32_gs_base, firmware_gs_base);
        if (interrupts_were_on) sti();
    };
    block.background = run.boot_cpu ? s.background : s.background_other;
    block.background_every = run.boot_cpu ? s.background_every : 0;
    if (!caps_match_boot_cpu(s)) {
        error.str("its VMX capability MSRs differ from the boot CPU's, whose plans its guests' VMCSs would be written from");
        finish();
        return;
    }
    const HostFeatures cpu = read_host_features();
    // XSAVE needs CR4.OSXSAVE in the host too; the firmware may not have set it.
    const std::uint64_t firmware_cr4 = read_cr4();
    std::uint64_t firmware_xcr0 = 0;
    if (cpu.xsave) {
        if ((firmware_cr4 & cr4::osxsave) == 0) write_cr4(firmware_cr4 | cr4::osxsave);
        firmware_xcr0 = (firmware_cr4 & cr4::osxsave) != 0 ? xgetbv0() : 1;
    }
    auto restore_extended_control = [&]() {
        if (cpu.xsave) xsetbv0(firmware_xcr0);
        write_cr4(firmware_cr4);
    };
    if (!block.root.enter(s.caps, run.vmxon_page, run.gdt_page, error, s.config->test_fail_vmxon)) {
        restore_extended_control();
        finish();
        return;
    }
    run.feature_control = block.root.feature_control_words();
    const HostState host = read_host_state(block);
    for (std::size_t k = 0; k < run.count; ++k) {
        if (!write_vmcs(s, run, k, host, error)) {
            abandon(run, k + 1);
            restore_extended_control();
            finish();
            return;
        }
    }
    if (run.boot_cpu && s.log != nullptr) s.log("running guests");

    block.masks.mask_all(run.boot_cpu);
    block.idle.init(run.idle_idt_page);  // after mask_all: the firmware's APIC timer is saved first
    save_host_state(block);
    // Every VM exit sets the host's GDTR and IDTR limits to 0xFFFF (SDM "Loading Host Segment
    // and Descriptor-Table Registers"); the GDTR is reloaded when VMX root is left, the IDTR here.
    const DescriptorTablePointer firmware_idt = sidt();
    block.loaded = nullptr;
    run.ran = true;
    run_guests(block.scheduler, run.guests, run.count, run.options);
    // The last guest's state goes back into its area before the host's comes back.
    restore_host_state(block, block.loaded);
    lidt(firmware_idt);
    block.masks.restore();
    block.idle.finish();
    run.idle_method = block.idle.description();
    run.idle_sleeps = block.idle.sleeps();
    run.idle_wakes = block.idle.wake_interrupts();
    for (std::size_t k = 0; k < run.count; ++k) vmclear(run.guests[k].vmcs_physical);
    run.left = block.root.leave(error);
    restore_extended_control();
    finish();
}

} // namespace vmx::hw
