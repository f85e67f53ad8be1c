// Making a guest current on the real processor, and the background work between slices: the
// platform seam's switch_to and background (vmx/run/platform.hpp), inline so that the slice
// switch (vmx/run/run_loop.cpp) pays no call for them. Target only: platform.hpp includes this
// when METRONOME_TARGET is defined; the host's tests have their own (tests/unit/fake_platform.cpp).
//
// What the VMCS does not switch is switched here: FPU/SSE/AVX by XSAVE or FXSAVE, XCR0, DR0-3 and
// DR6, the SYSCALL MSRs and TSC_AUX. The SYSCALL MSRs and TSC_AUX are never read back: a guest's
// writes of them exit (vmx/exits/msr.cpp), so its Vcpu holds its values, and the CPU block what the
// CPU holds; a switch writes those that differ (guests that never set them, like Metronome's own,
// cost no WRMSR at all). KERNEL_GS_BASE is read back first (SWAPGS changes it in guest mode without
// an exit), into the guest that leaves and into the CPU block, and then written only if it
// differs too.
#pragma once
#include <cstdint>

#include "vmx/arch/msr.hpp"
#include "vmx/hw/cpu.hpp"
#include "vmx/hw/cpu_block.hpp"
#include "vmx/hw/cpu_state.hpp"
#include "vmx/hw/vmx_instructions.hpp"
#include "vmx/run/vcpu.hpp"

namespace vmx::hw {

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
inline void load_msrs(CpuBlock& cpu, const SyscallMsrs& m) {
    SyscallMsrs& in = cpu.msrs_in_cpu;
    load_msr(msr::ia32_kernel_gs_base, in.kernel_gs_base, m.kernel_gs_base);
    load_msr(msr::ia32_star, in.star, m.star);
    load_msr(msr::ia32_lstar, in.lstar, m.lstar);
    load_msr(msr::ia32_cstar, in.cstar, m.cstar);
    load_msr(msr::ia32_fmask, in.fmask, m.fmask);
    if (cpu.rdtscp) load_msr(msr::ia32_tsc_aux, in.tsc_aux, m.tsc_aux);
}

// STAR, LSTAR, CSTAR, FMASK and TSC_AUX are all 0 in `m` (CpuBlock::syscall_msrs_zero).
inline bool syscall_msrs_zero(const SyscallMsrs& m) { return (m.star | m.lstar | m.cstar | m.fmask | m.tsc_aux) == 0; }

inline void load_debug(const SwitchedState& s) {
    write_dr0(s.dr[0]);
    write_dr1(s.dr[1]);
    write_dr2(s.dr[2]);
    write_dr3(s.dr[3]);
    write_dr6(s.dr6);
}

inline void save_debug(SwitchedState& s) {
    s.dr[0] = read_dr0();
    s.dr[1] = read_dr1();
    s.dr[2] = read_dr2();
    s.dr[3] = read_dr3();
    s.dr6 = read_dr6();
}

// Saved and restored with the full mask, whatever the guest's XCR0: components it has disabled
// still hold its own (initial) values, and never another guest's.
// `xcr0_now`: XCR0 as it is (a guest's own; 0: not known), which XSAVE needs to be the full mask.
inline void save_extended(const CpuBlock& cpu, std::uint8_t* area, std::uint64_t xcr0_now) {
    if (cpu.xsave_mask != 0) {
        if (xcr0_now != cpu.xsave_mask) xsetbv0(cpu.xsave_mask);
        xsave(area, cpu.xsave_mask);
    } else {
        fxsave(area);
    }
}

inline void load_extended(const CpuBlock& cpu, const std::uint8_t* area, std::uint64_t xcr0) {
    if (cpu.xsave_mask != 0) {
        xsetbv0(cpu.xsave_mask);
        xrstor(area, cpu.xsave_mask);
        xsetbv0(xcr0);
    } else {
        fxrstor(area);
    }
}

} // namespace vmx::hw

namespace vmx::platform {

inline bool switch_to(Vcpu* previous, Vcpu& next) {
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
    if (cpu.syscall_msrs_zero && !next.syscall_msrs_nonzero) {
        // Both hold 0 in the SYSCALL MSRs and TSC_AUX: only KERNEL_GS_BASE may differ.
        hw::load_msr(msr::ia32_kernel_gs_base, cpu.msrs_in_cpu.kernel_gs_base, next.switched.msrs.kernel_gs_base);
    } else {
        hw::load_msrs(cpu, next.switched.msrs);
        cpu.syscall_msrs_zero = !next.syscall_msrs_nonzero;
    }
    hw::load_debug(next.switched);
    return true;
}

inline void background(std::uint64_t now) {
    hw::CpuBlock& cpu = hw::this_cpu();
    if (now < cpu.background_due || cpu.background == nullptr) return;
    cpu.background();
    cpu.background_due = now + cpu.background_every;
}

} // namespace vmx::platform
