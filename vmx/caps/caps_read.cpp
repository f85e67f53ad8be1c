#include "vmx/caps/caps_read.hpp"

#include "vmx/arch/msr.hpp"

namespace vmx {

VmxCaps read_vmx_caps(const MsrReader& reader) {
    VmxCaps c;
    // Architecturally present whenever CPUID.1:ECX.VMX = 1 (SDM appendix "VMX Capability
    // Reporting Facility", sections "Basic VMX Information" to "VMCS Enumeration").
    c.basic = reader.read(msr::ia32_vmx_basic);
    c.pinbased_ctls = reader.read(msr::ia32_vmx_pinbased_ctls);
    c.procbased_ctls = reader.read(msr::ia32_vmx_procbased_ctls);
    c.exit_ctls = reader.read(msr::ia32_vmx_exit_ctls);
    c.entry_ctls = reader.read(msr::ia32_vmx_entry_ctls);
    c.misc = reader.read(msr::ia32_vmx_misc);
    c.cr0_fixed0 = reader.read(msr::ia32_vmx_cr0_fixed0);
    c.cr0_fixed1 = reader.read(msr::ia32_vmx_cr0_fixed1);
    c.cr4_fixed0 = reader.read(msr::ia32_vmx_cr4_fixed0);
    c.cr4_fixed1 = reader.read(msr::ia32_vmx_cr4_fixed1);
    c.vmcs_enum = reader.read(msr::ia32_vmx_vmcs_enum);

    // "Secondary Processor-Based VM-Execution Controls": exists only if the allowed-1 setting of
    // "activate secondary controls" (primary bit 31, so MSR bit 63) is 1.
    if (((c.procbased_ctls >> 63) & 1u) != 0) {
        c.procbased_ctls2 = reader.read(msr::ia32_vmx_procbased_ctls2);
        // "VPID and EPT Capabilities": exists only if "enable EPT" (secondary bit 1) or
        // "enable VPID" (secondary bit 5) may be 1; allowed-1 settings are the high half.
        const bool ept = ((c.procbased_ctls2 >> (32 + 1)) & 1u) != 0;
        const bool vpid = ((c.procbased_ctls2 >> (32 + 5)) & 1u) != 0;
        if (ept || vpid) c.ept_vpid_cap = reader.read(msr::ia32_vmx_ept_vpid_cap);
    }

    // "Basic VMX Information": BASIC[55] = 1 says the TRUE control MSRs exist.
    if (c.has_true_controls()) {
        c.true_pinbased_ctls = reader.read(msr::ia32_vmx_true_pinbased_ctls);
        c.true_procbased_ctls = reader.read(msr::ia32_vmx_true_procbased_ctls);
        c.true_exit_ctls = reader.read(msr::ia32_vmx_true_exit_ctls);
        c.true_entry_ctls = reader.read(msr::ia32_vmx_true_entry_ctls);
    }
    return c;
}

} // namespace vmx
