// The MSR bitmap shared by all guests (SDM "MSR-Bitmap Address"): one bit per MSR and direction;
// a 1 makes RDMSR/WRMSR exit. Guests pass straight through only for MSRs whose values the
// VMCS or the hypervisor switches per guest; every other MSR belongs to the host and exits
// (the exit handler answers #GP).
#pragma once
#include <cstddef>
#include <cstdint>

#include "vmx/arch/msr.hpp"

namespace vmx {

inline constexpr std::size_t msr_bitmap_size = 4096;

// The MSRs the hypervisor switches per guest and knows from their writes (their values: vmx/run/
// vcpu.hpp, SyscallMsrs): a guest reads them directly, its writes exit. (KERNEL_GS_BASE, which
// SWAPGS changes without an exit, passes in both directions and is read back at each switch.)
inline constexpr std::uint32_t hypervisor_switched_msrs[] = {
    msr::ia32_star, msr::ia32_lstar, msr::ia32_cstar, msr::ia32_fmask, msr::ia32_tsc_aux,
};

// MSRs a guest may access directly, because each guest has its own value: FS/GS base and
// SYSENTER (guest-state area), EFER and PAT (loaded/saved by VM entry/exit) in both directions;
// KERNEL_GS_BASE (switched by the hypervisor) in both directions; STAR, LSTAR, CSTAR, FMASK and
// TSC_AUX (switched by the hypervisor) for reads, their writes exit so that the hypervisor knows
// each guest's values (vmx/exits/msr.cpp); the TSC for reads.
bool msr_passes_through(std::uint32_t msr, bool write);

// Fills a 4 KiB page: all ones, then clears the pass-through MSRs.
void build_msr_bitmap(std::uint8_t* page);

// Whether an access exits under `page` (MSRs outside both ranges always exit).
bool msr_access_exits(const std::uint8_t* page, std::uint32_t msr, bool write);

} // namespace vmx
