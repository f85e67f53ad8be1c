// The five VMX control words (pin-based, primary and secondary processor-based VM-execution,
// VM-exit, VM-entry): their bits by SDM name, and resolution of a requested setting against the
// capability MSRs (SDM appendix "VMX Capability Reporting Facility" and the section "Algorithms
// for Determining VMX Capabilities"). Pure and freestanding.
#pragma once
#include <cstdint>

#include "vmx/caps/caps.hpp"
#include "vmx/lib/text.hpp"

namespace vmx {

// Bit masks, named as in the SDM chapter "VM-Execution Control Fields" and its siblings.
namespace pin {
inline constexpr std::uint32_t external_interrupt_exiting = 1u << 0;
inline constexpr std::uint32_t nmi_exiting = 1u << 3;
inline constexpr std::uint32_t virtual_nmis = 1u << 5;
inline constexpr std::uint32_t activate_preemption_timer = 1u << 6;
inline constexpr std::uint32_t process_posted_interrupts = 1u << 7;
} // namespace pin

namespace proc {
inline constexpr std::uint32_t interrupt_window_exiting = 1u << 2;
inline constexpr std::uint32_t use_tsc_offsetting = 1u << 3;
inline constexpr std::uint32_t hlt_exiting = 1u << 7;
inline constexpr std::uint32_t invlpg_exiting = 1u << 9;
inline constexpr std::uint32_t mwait_exiting = 1u << 10;
inline constexpr std::uint32_t rdpmc_exiting = 1u << 11;
inline constexpr std::uint32_t rdtsc_exiting = 1u << 12;
inline constexpr std::uint32_t cr3_load_exiting = 1u << 15;
inline constexpr std::uint32_t cr3_store_exiting = 1u << 16;
inline constexpr std::uint32_t cr8_load_exiting = 1u << 19;
inline constexpr std::uint32_t cr8_store_exiting = 1u << 20;
inline constexpr std::uint32_t use_tpr_shadow = 1u << 21;
inline constexpr std::uint32_t nmi_window_exiting = 1u << 22;
inline constexpr std::uint32_t mov_dr_exiting = 1u << 23;
inline constexpr std::uint32_t unconditional_io_exiting = 1u << 24;
inline constexpr std::uint32_t use_io_bitmaps = 1u << 25;
inline constexpr std::uint32_t monitor_trap_flag = 1u << 27;
inline constexpr std::uint32_t use_msr_bitmaps = 1u << 28;
inline constexpr std::uint32_t monitor_exiting = 1u << 29;
inline constexpr std::uint32_t pause_exiting = 1u << 30;
inline constexpr std::uint32_t activate_secondary_controls = 1u << 31;
} // namespace proc

namespace proc2 {
inline constexpr std::uint32_t virtualize_apic_accesses = 1u << 0;
inline constexpr std::uint32_t enable_ept = 1u << 1;
inline constexpr std::uint32_t descriptor_table_exiting = 1u << 2;
inline constexpr std::uint32_t enable_rdtscp = 1u << 3;
inline constexpr std::uint32_t virtualize_x2apic_mode = 1u << 4;
inline constexpr std::uint32_t enable_vpid = 1u << 5;
inline constexpr std::uint32_t wbinvd_exiting = 1u << 6;
inline constexpr std::uint32_t unrestricted_guest = 1u << 7;
inline constexpr std::uint32_t apic_register_virtualization = 1u << 8;
inline constexpr std::uint32_t virtual_interrupt_delivery = 1u << 9;
inline constexpr std::uint32_t pause_loop_exiting = 1u << 10;
inline constexpr std::uint32_t rdrand_exiting = 1u << 11;
inline constexpr std::uint32_t enable_invpcid = 1u << 12;
inline constexpr std::uint32_t enable_vm_functions = 1u << 13;
inline constexpr std::uint32_t vmcs_shadowing = 1u << 14;
inline constexpr std::uint32_t encls_exiting = 1u << 15;
inline constexpr std::uint32_t rdseed_exiting = 1u << 16;
inline constexpr std::uint32_t enable_pml = 1u << 17;
inline constexpr std::uint32_t ept_violation_ve = 1u << 18;
inline constexpr std::uint32_t conceal_vmx_from_pt = 1u << 19;
inline constexpr std::uint32_t enable_xsaves_xrstors = 1u << 20;
inline constexpr std::uint32_t mode_based_ept_execute = 1u << 22;
inline constexpr std::uint32_t tsc_scaling = 1u << 25;
inline constexpr std::uint32_t enable_user_wait_pause = 1u << 26;
} // namespace proc2

namespace exit_ctl {
inline constexpr std::uint32_t save_debug_controls = 1u << 2;
inline constexpr std::uint32_t host_address_space_size = 1u << 9;
inline constexpr std::uint32_t load_perf_global_ctrl = 1u << 12;
inline constexpr std::uint32_t acknowledge_interrupt_on_exit = 1u << 15;
inline constexpr std::uint32_t save_pat = 1u << 18;
inline constexpr std::uint32_t load_pat = 1u << 19;
inline constexpr std::uint32_t save_efer = 1u << 20;
inline constexpr std::uint32_t load_efer = 1u << 21;
inline constexpr std::uint32_t save_preemption_timer = 1u << 22;
inline constexpr std::uint32_t clear_bndcfgs = 1u << 23;
inline constexpr std::uint32_t conceal_vmx_from_pt = 1u << 24;
} // namespace exit_ctl

namespace entry_ctl {
inline constexpr std::uint32_t load_debug_controls = 1u << 2;
inline constexpr std::uint32_t ia32e_mode_guest = 1u << 9;
inline constexpr std::uint32_t entry_to_smm = 1u << 10;
inline constexpr std::uint32_t deactivate_dual_monitor = 1u << 11;
inline constexpr std::uint32_t load_perf_global_ctrl = 1u << 13;
inline constexpr std::uint32_t load_pat = 1u << 14;
inline constexpr std::uint32_t load_efer = 1u << 15;
inline constexpr std::uint32_t load_bndcfgs = 1u << 16;
inline constexpr std::uint32_t conceal_vmx_from_pt = 1u << 17;
} // namespace entry_ctl

enum class ControlSet {
    pin_based,
    primary_processor_based,
    secondary_processor_based,
    exit,
    entry
};

// The "default1" class of each control word (SDM appendix "VMX Capability Reporting Facility"):
// bits that are reserved-and-1 on CPUs without TRUE MSRs. Only these may read as must-be-1 in the
// plain MSR but as may-be-0 in the TRUE MSR. The secondary controls have no default1 bits.
constexpr std::uint32_t default1_controls(ControlSet set) {
    switch (set) {
    case ControlSet::pin_based:
        return 0x00000016u; // bits 1, 2, 4
    case ControlSet::primary_processor_based:
        return 0x0401e172u; // 1, 4-6, 8, 13-16, 26
    case ControlSet::secondary_processor_based:
        return 0u;
    case ControlSet::exit:
        return 0x00036dffu; // 0-8, 10, 11, 13, 14, 16, 17
    case ControlSet::entry:
        return 0x000011ffu; // 0-8, 12
    }
    return 0u;
}

// "HLT exiting", "enable EPT", ...; nullptr for a bit the SDM leaves reserved (callers print
// "bit N"). Bits above 31 are nullptr too.
const char* control_bit_name(ControlSet set, unsigned bit);
// "pin-based VM-execution controls", "VM-exit controls", ...
const char* control_set_name(ControlSet set);

// What the CPU reports for one control word, from the MSR Metronome consults for it.
struct ControlCapability {
    std::uint32_t must_be_1; // allowed-0 settings: a 1 means the control may not be 0
    std::uint32_t allowed_1; // allowed-1 settings: a 0 means the control may not be 1
    const char* msr_name;
};
// Pin-based, primary, exit and entry come from IA32_VMX_TRUE_*_CTLS exactly when BASIC[55] is
// set (those report the real must-be-1 bits; the plain MSRs report every default1 bit as
// must-be-1), else from the plain MSR. Secondary comes from IA32_VMX_PROCBASED_CTLS2, unless
// IA32_VMX_PROCBASED_CTLS[63] is 0: then that MSR does not exist, no secondary control may be 1,
// and msr_name is "IA32_VMX_PROCBASED_CTLS".
ControlCapability control_capability(ControlSet set, const VmxCaps& caps);
const char* capability_msr_name(ControlSet set, const VmxCaps& caps);

struct ControlResolution {
    std::uint32_t value;   // what to write into the VMCS field
    std::uint32_t refused; // requested bits the CPU does not honour (see resolve_control)
    std::uint32_t forced;  // must-be-1 bits that were not requested
    const char* msr_name;  // the capability MSR consulted
    ControlSet set;
    bool ok() const { return refused == 0; }
};

// value = (requested | must_be_1) & allowed_1. A requested bit that may not be 1 is refused and
// left out of value; it is never dropped silently. `required_clear` names bits the caller needs
// to be 0: if the CPU forces one of them on it is refused too, and stays set in value (and in
// `forced`), because that is what the CPU will do. A bit both requested and required clear
// counts as requested.
ControlResolution resolve_control(ControlSet set, std::uint32_t requested, const VmxCaps& caps);
ControlResolution resolve_control(ControlSet set, std::uint32_t requested,
                                  std::uint32_t required_clear, const VmxCaps& caps);

// One sentence per refused bit, separated by newlines, e.g.
//   CPU does not allow "unrestricted guest" (bit 7 of the secondary processor-based
//   VM-execution controls, IA32_VMX_PROCBASED_CTLS2 allowed-1 = 0).
// A refused bit that is set in value reads "CPU forces ... on (... allowed-0 = 1)". Writes
// nothing when nothing was refused.
void describe_refusal(const ControlResolution& resolution, Text& out);

} // namespace vmx
