// Model-specific register numbers Metronome reads or writes, by their SDM names.
// Kept apart from any logic: these are architecture definitions only.
#pragma once
#include <cstdint>

namespace vmx::msr {

inline constexpr std::uint32_t ia32_tsc = 0x010;
inline constexpr std::uint32_t ia32_apic_base = 0x01b;
inline constexpr std::uint32_t ia32_feature_control = 0x03a;
inline constexpr std::uint32_t ia32_tsc_adjust = 0x03b;
inline constexpr std::uint32_t ia32_bios_sign_id = 0x08b; // the microcode revision (UCODE_REV)
inline constexpr std::uint32_t ia32_sysenter_cs = 0x174;
inline constexpr std::uint32_t ia32_sysenter_esp = 0x175;
inline constexpr std::uint32_t ia32_sysenter_eip = 0x176;
inline constexpr std::uint32_t ia32_misc_enable = 0x1a0;
inline constexpr std::uint32_t ia32_debugctl = 0x1d9;
inline constexpr std::uint32_t ia32_pat = 0x277;
inline constexpr std::uint32_t ia32_perf_global_ctrl = 0x38f;
inline constexpr std::uint32_t ia32_vmx_basic = 0x480;
inline constexpr std::uint32_t ia32_vmx_pinbased_ctls = 0x481;
inline constexpr std::uint32_t ia32_vmx_procbased_ctls = 0x482;
inline constexpr std::uint32_t ia32_vmx_exit_ctls = 0x483;
inline constexpr std::uint32_t ia32_vmx_entry_ctls = 0x484;
inline constexpr std::uint32_t ia32_vmx_misc = 0x485;
inline constexpr std::uint32_t ia32_vmx_cr0_fixed0 = 0x486;
inline constexpr std::uint32_t ia32_vmx_cr0_fixed1 = 0x487;
inline constexpr std::uint32_t ia32_vmx_cr4_fixed0 = 0x488;
inline constexpr std::uint32_t ia32_vmx_cr4_fixed1 = 0x489;
inline constexpr std::uint32_t ia32_vmx_vmcs_enum = 0x48a;
inline constexpr std::uint32_t ia32_vmx_procbased_ctls2 = 0x48b;
inline constexpr std::uint32_t ia32_vmx_ept_vpid_cap = 0x48c;
inline constexpr std::uint32_t ia32_vmx_true_pinbased_ctls = 0x48d;
inline constexpr std::uint32_t ia32_vmx_true_procbased_ctls = 0x48e;
inline constexpr std::uint32_t ia32_vmx_true_exit_ctls = 0x48f;
inline constexpr std::uint32_t ia32_vmx_true_entry_ctls = 0x490;
inline constexpr std::uint32_t ia32_tsc_deadline = 0x6e0;
inline constexpr std::uint32_t ia32_efer = 0xc0000080;
inline constexpr std::uint32_t ia32_star = 0xc0000081;
inline constexpr std::uint32_t ia32_lstar = 0xc0000082;
inline constexpr std::uint32_t ia32_cstar = 0xc0000083;
inline constexpr std::uint32_t ia32_fmask = 0xc0000084;
inline constexpr std::uint32_t ia32_fs_base = 0xc0000100;
inline constexpr std::uint32_t ia32_gs_base = 0xc0000101;
inline constexpr std::uint32_t ia32_kernel_gs_base = 0xc0000102;
inline constexpr std::uint32_t ia32_tsc_aux = 0xc0000103;

// IA32_MISC_ENABLE bit 0: fast strings (REP MOVS/STOS) enabled.
inline constexpr std::uint64_t misc_enable_fast_strings = 1ull << 0;

// IA32_FEATURE_CONTROL bits (SDM: "Enabling and Entering VMX Operation").
inline constexpr std::uint64_t feature_control_lock = 1ull << 0;
inline constexpr std::uint64_t feature_control_vmxon_inside_smx = 1ull << 1;
inline constexpr std::uint64_t feature_control_vmxon_outside_smx = 1ull << 2;

} // namespace vmx::msr
