// The platform seam of the pure core on the real processor (vmx/run/platform.hpp): making a
// guest current (VMPTRLD and the state the VMCS does not switch: FPU/SSE/AVX by XSAVE or FXSAVE,
// XCR0, DR0-3/DR6, the SYSCALL MSRs, TSC_AUX), entering it through vm_entry.S, idling, the
// console sink, and the record of failed VMREAD/VMWRITE. Target only.
//
// The SYSCALL MSRs and TSC_AUX are never read back: a guest's writes of them exit (vmx/exits/
// msr.cpp), so its Vcpu holds its values, and the CPU block what the CPU holds; a switch writes
// those that differ (guests that never set them, like Metronome's own, cost no WRMSR at all).
// KERNEL_GS_BASE is read back first (SWAPGS changes it in guest mode without an exit), into the
// guest that leaves and into the CPU block, and then written only if it differs too.
#include "vmx/arch/msr.hpp"
#include "vmx/hw/cpu.hpp"
#include "vmx/hw/cpu_block.hpp"
#include "vmx/hw/cpu_state.hpp"
#include "vmx/hw/debug_break.hpp"
#include "vmx/hw/interrupt_masks.hpp"
#include "vmx/hw/vmx_instructions.hpp"
#include "vmx/lib/little_endian.hpp"
#include "vmx/run/platform.hpp"
#include "vmx/vmcs/vmcs_access.hpp"

namespace vmx::hw {
namespace {


// One MSR to `wanted`, unless the CPU holds that already.
inline void load_msr(std::uint32_t index, std::uint64_t& in_cpu, std::uint64_t wanted) {
    if (in_cpu == wanted) return;
    wrmsr(index, wanted);
    in_cpu = wanted;
}

// What the CPU holds in KERNEL_GS_BASE now: the guest that ran last may have swapped it (SWAPGS).
inline std::uint64_t read_back_kernel_gs_base(CpuBlock& cpu) {
    cpu.msrs_in_cpu.kernel_gs_base = rdmsr(msr::ia32_kernel_gs_base);
    return cpu.msrs_in_cpu.kernel_gs_base;
}

// Call after read_back_kernel_gs_base: the CPU block is then what the CPU holds.
void load_msrs(CpuBlock& cpu, const SyscallMsrs& m) {
    SyscallMsrs& in = cpu.msrs_in_cpu;
    load_msr(msr::ia32_kernel_gs_base, in.kernel_gs_base, m.kernel_gs_base);
    load_msr(msr::ia32_star, in.star, m.star);
    load_msr(msr::ia32_lstar, in.lstar, m.lstar);
    load_msr(msr::ia32_cstar, in.cstar, m.cstar);
    load_msr(msr::ia32_fmask, in.fmask, m.fmask);
    if (cpu.rdtscp) load_msr(msr::ia32_tsc_aux, in.tsc_aux, m.tsc_aux);
}

void load_debug(const SwitchedState& s) {
    write_dr0(s.dr[0]);
    write_dr1(s.dr[1]);
    write_dr2(s.dr[2]);
    write_dr3(s.dr[3]);
    write_dr6(s.dr6);
}

void save_debug(SwitchedState& s) {
    s.dr[0] = read_dr0();
    s.dr[1] = read_dr1();
    s.dr[2] = read_dr2();
    s.dr[3] = read_dr3();
    s.dr6 = read_dr6();
}

// Saved and restored with the full mask, whatever the guest's XCR0: components it has disabled
// still hold its own (initial) values, and never another guest's.
// `xcr0_now`: XCR0 as it is (a guest's own; 0: not known), which XSAVE needs to be the full mask.
void save_extended(const CpuBlock& cpu, std::uint8_t* area, std::uint64_t xcr0_now) {
    if (cpu.xsave_mask != 0) {
        if (xcr0_now != cpu.xsave_mask) xsetbv0(cpu.xsave_mask);
        xsave(area, cpu.xsave_mask);
    } else {
        fxsave(area);
    }
}

void load_extended(const CpuBlock& cpu, const std::uint8_t* area, std::uint64_t xcr0) {
    if (cpu.xsave_mask != 0) {
        xsetbv0(cpu.xsave_mask);
        xrstor(area, cpu.xsave_mask);
        xsetbv0(xcr0);
    } else {
        fxrstor(area);
    }
}

} // namespace

// The legacy region's FCW (offset 0) = 0x037F and MXCSR (offset 24) = 0x1F80 are the reset
// values; with XSTATE_BV = 0 in the XSAVE header every component is loaded in its initial
// configuration (SDM "XRSTOR": "init optimization"), so a guest starts with clean registers.
void init_extended_state(std::uint8_t* area) {
    store_le(area, 0x037f, 2);
    store_le(area + 24, 0x1f80, 4);
}

void save_host_state(CpuBlock& cpu) {
    HostSavedState& host = cpu.host;
    host.msrs.kernel_gs_base = rdmsr(msr::ia32_kernel_gs_base);
    host.msrs.star = rdmsr(msr::ia32_star);
    host.msrs.lstar = rdmsr(msr::ia32_lstar);
    host.msrs.cstar = rdmsr(msr::ia32_cstar);
    host.msrs.fmask = rdmsr(msr::ia32_fmask);
    host.msrs.tsc_aux = cpu.rdtscp ? rdmsr(msr::ia32_tsc_aux) : 0;
    cpu.msrs_in_cpu = host.msrs;
    host.dr[0] = read_dr0();
    host.dr[1] = read_dr1();
    host.dr[2] = read_dr2();
    host.dr[3] = read_dr3();
    host.dr6 = read_dr6();
    host.dr7 = read_dr7();
    asm volatile("mov %%cr2, %0" : "=r"(host.cr2));
    save_extended(cpu, cpu.host_extended_state, 0);
}

void restore_host_state(CpuBlock& cpu, Vcpu* current) {
    if (current != nullptr) save_extended(cpu, current->extended_state, current->xcr0);
    load_extended(cpu, cpu.host_extended_state, cpu.xsave_mask);
    const HostSavedState& host = cpu.host;
    read_back_kernel_gs_base(cpu);
    load_msrs(cpu, host.msrs);
    write_dr0(host.dr[0]);
    write_dr1(host.dr[1]);
    write_dr2(host.dr[2]);
    write_dr3(host.dr[3]);
    write_dr6(host.dr6);
    write_dr7(host.dr7);
    asm volatile("mov %0, %%cr2" : : "r"(host.cr2));
}

} // namespace vmx::hw

namespace vmx::vmcs {

void note_failure(std::uint32_t) {
    hw::CpuBlock& cpu = hw::this_cpu();
    std::uint64_t error = 0;
    hw::vmread(field_encoding(Field::vm_instruction_error), &error);
    cpu.last_instruction_error = static_cast<std::uint32_t>(error);
    ++cpu.failed_accesses;
}

} // namespace vmx::vmcs

namespace vmx::platform {

bool switch_to(Vcpu* previous, Vcpu& next) {
    hw::CpuBlock& cpu = hw::this_cpu();
    // Even with no previous guest (its VMPTRLD failed last time) the CPU may hold a guest's value.
    const std::uint64_t kernel_gs_base = hw::read_back_kernel_gs_base(cpu);
    if (previous != nullptr) {
        hw::save_extended(cpu, previous->extended_state, previous->xcr0);
        hw::save_debug(previous->switched);
        previous->switched.msrs.kernel_gs_base = kernel_gs_base;
    }
    if (hw::vmptrld(next.vmcs_physical) != hw::VmxStatus::ok) return false;
    cpu.loaded = &next;
    if (previous != nullptr && cpu.xsave_mask != 0) {
        // XCR0 is the full mask since the save: restore, then the next guest's own XCR0.
        hw::xrstor(next.extended_state, cpu.xsave_mask);
        if (next.xcr0 != cpu.xsave_mask) hw::xsetbv0(next.xcr0);
    } else {
        hw::load_extended(cpu, next.extended_state, next.xcr0);
    }
    hw::load_msrs(cpu, next.switched.msrs);
    hw::load_debug(next.switched);
    return true;
}

EntryResult enter(Vcpu& guest) {
    // `tools/metronome debug`: a Bochs magic breakpoint before the chosen guest's VMLAUNCH.
    if (!guest.launched) hw::debug_break_before_launch(guest);
    const VmEnterResult entered = metronome_vm_enter(&guest, guest.launched ? 1 : 0);
    const std::int64_t rc = entered.rc;
    EntryResult r;
    r.guest = entered.guest;
    if (rc == 0) {
        r.exited = true;
    } else if (rc == 1) {
        r.fail_invalid = true;
    } else {
        std::uint64_t error = 0;
        hw::vmread(field_encoding(Field::vm_instruction_error), &error);
        r.vm_instruction_error = static_cast<std::uint32_t>(error);
    }
    return r;
}

void idle_until(std::uint64_t tsc) {
    hw::CpuBlock& cpu = hw::this_cpu();
    cpu.idle.idle_until(tsc, cpu.background);
}

void background() {
    hw::CpuBlock& cpu = hw::this_cpu();
    if (cpu.background != nullptr) cpu.background();
}

int console_input() {
    hw::CpuBlock& cpu = hw::this_cpu();
    return cpu.console_input != nullptr ? cpu.console_input() : -1;
}

void end_of_interrupt() { hw::InterruptMasks::end_of_interrupt(); }

bool write_switched_msr(std::uint32_t index, std::uint64_t value) {
    hw::CpuBlock& cpu = hw::this_cpu();
    if (index == msr::ia32_tsc_aux && !cpu.rdtscp) return false;
    hw::wrmsr(index, value);
    if (std::uint64_t* slot = syscall_msr_slot(cpu.msrs_in_cpu, index)) *slot = value;
    return true;
}

void load_xcr0(std::uint64_t value) {
    if (hw::this_cpu().xsave_mask != 0) hw::xsetbv0(value);
}

bool console_line(const Vcpu& guest, const char* line, bool complete) {
    const hw::CpuBlock& cpu = hw::this_cpu();
    return cpu.console == nullptr || cpu.console(guest.guest_number, guest.name, line, complete);
}

} // namespace vmx::platform
