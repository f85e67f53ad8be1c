// The VMX capability MSRs of one CPU, as a plain value. Filled from hardware by vmx/hw, from a
// text file by the host tools and tests (vmx/caps/caps_text.hpp), or by hand in unit tests.
#pragma once
#include <cstdint>

namespace vmx {

struct VmxCaps {
    // Always readable when CPUID.1:ECX.VMX = 1.
    std::uint64_t basic = 0;
    std::uint64_t pinbased_ctls = 0;
    std::uint64_t procbased_ctls = 0;
    std::uint64_t exit_ctls = 0;
    std::uint64_t entry_ctls = 0;
    std::uint64_t misc = 0;
    std::uint64_t cr0_fixed0 = 0;
    std::uint64_t cr0_fixed1 = 0;
    std::uint64_t cr4_fixed0 = 0;
    std::uint64_t cr4_fixed1 = 0;
    std::uint64_t vmcs_enum = 0;
    // Readable only when the primary processor-based allowed-1 settings permit
    // "activate secondary controls" (bit 63 of IA32_VMX_PROCBASED_CTLS).
    std::uint64_t procbased_ctls2 = 0;
    // Readable only when the secondary controls allow "enable EPT" or "enable VPID".
    std::uint64_t ept_vpid_cap = 0;
    // Readable only when IA32_VMX_BASIC[55] is set.
    std::uint64_t true_pinbased_ctls = 0;
    std::uint64_t true_procbased_ctls = 0;
    std::uint64_t true_exit_ctls = 0;
    std::uint64_t true_entry_ctls = 0;

    // IA32_VMX_BASIC[55]: the TRUE control MSRs exist and give the real must-be-1 settings.
    constexpr bool has_true_controls() const { return (basic >> 55) & 1; }
    // IA32_VMX_BASIC[30:0] is the VMCS revision identifier; [44:32] the VMCS region size.
    constexpr std::uint32_t vmcs_revision() const {
        return static_cast<std::uint32_t>(basic & 0x7fffffffu);
    }
    constexpr std::uint32_t vmcs_region_size() const {
        return static_cast<std::uint32_t>((basic >> 32) & 0x1fffu);
    }
    // IA32_VMX_MISC[4:0]: the preemption timer counts down by 1 every 2^X TSC ticks.
    constexpr unsigned preemption_timer_rate() const { return static_cast<unsigned>(misc & 0x1f); }
    // IA32_VMX_MISC[6]: activity state HLT is supported for VM entry.
    constexpr bool supports_hlt_activity() const { return (misc >> 6) & 1; }
    constexpr bool supports_shutdown_activity() const { return (misc >> 7) & 1; }
    constexpr bool supports_wait_for_sipi_activity() const { return (misc >> 8) & 1; }
};

} // namespace vmx
