#include "vmx/caps/controls.hpp"

#include <cstddef>

#include "vmx/caps/caps_text.hpp"
#include "vmx/arch/msr.hpp"

namespace vmx {
namespace {

struct BitName {
    unsigned bit;
    const char* name;
};

// SDM "Pin-Based VM-Execution Controls".
constexpr BitName kPinNames[] = {
    {0, "external-interrupt exiting"},
    {3, "NMI exiting"},
    {5, "virtual NMIs"},
    {6, "activate VMX-preemption timer"},
    {7, "process posted interrupts"},
};

// SDM "Processor-Based VM-Execution Controls", primary.
constexpr BitName kPrimaryNames[] = {
    {2, "interrupt-window exiting"},
    {3, "use TSC offsetting"},
    {7, "HLT exiting"},
    {9, "INVLPG exiting"},
    {10, "MWAIT exiting"},
    {11, "RDPMC exiting"},
    {12, "RDTSC exiting"},
    {15, "CR3-load exiting"},
    {16, "CR3-store exiting"},
    {17, "activate tertiary controls"},
    {19, "CR8-load exiting"},
    {20, "CR8-store exiting"},
    {21, "use TPR shadow"},
    {22, "NMI-window exiting"},
    {23, "MOV-DR exiting"},
    {24, "unconditional I/O exiting"},
    {25, "use I/O bitmaps"},
    {27, "monitor trap flag"},
    {28, "use MSR bitmaps"},
    {29, "MONITOR exiting"},
    {30, "PAUSE exiting"},
    {31, "activate secondary controls"},
};

// SDM "Processor-Based VM-Execution Controls", secondary.
constexpr BitName kSecondaryNames[] = {
    {0, "virtualize APIC accesses"},
    {1, "enable EPT"},
    {2, "descriptor-table exiting"},
    {3, "enable RDTSCP"},
    {4, "virtualize x2APIC mode"},
    {5, "enable VPID"},
    {6, "WBINVD exiting"},
    {7, "unrestricted guest"},
    {8, "APIC-register virtualization"},
    {9, "virtual-interrupt delivery"},
    {10, "PAUSE-loop exiting"},
    {11, "RDRAND exiting"},
    {12, "enable INVPCID"},
    {13, "enable VM functions"},
    {14, "VMCS shadowing"},
    {15, "enable ENCLS exiting"},
    {16, "RDSEED exiting"},
    {17, "enable PML"},
    {18, "EPT-violation #VE"},
    {19, "conceal VMX from PT"},
    {20, "enable XSAVES/XRSTORS"},
    {22, "mode-based execute control for EPT"},
    {23, "sub-page write permissions for EPT"},
    {24, "Intel PT uses guest physical addresses"},
    {25, "use TSC scaling"},
    {26, "enable user wait and pause"},
    {27, "enable PCONFIG"},
    {28, "enable ENCLV exiting"},
    {30, "VMM bus-lock detection"},
    {31, "instruction timeout"},
};

// SDM "VM-Exit Controls".
constexpr BitName kExitNames[] = {
    {2, "save debug controls"},
    {9, "host address-space size"},
    {12, "load IA32_PERF_GLOBAL_CTRL"},
    {15, "acknowledge interrupt on exit"},
    {18, "save IA32_PAT"},
    {19, "load IA32_PAT"},
    {20, "save IA32_EFER"},
    {21, "load IA32_EFER"},
    {22, "save VMX-preemption timer value"},
    {23, "clear IA32_BNDCFGS"},
    {24, "conceal VMX from PT"},
    {25, "clear IA32_RTIT_CTL"},
    {26, "clear IA32_LBR_CTL"},
    {28, "load CET state"},
    {29, "load PKRS"},
    {30, "save IA32_PERF_GLOBAL_CTL"},
    {31, "activate secondary controls"},
};

// SDM "VM-Entry Controls".
constexpr BitName kEntryNames[] = {
    {2, "load debug controls"},
    {9, "IA-32e mode guest"},
    {10, "entry to SMM"},
    {11, "deactivate dual-monitor treatment"},
    {13, "load IA32_PERF_GLOBAL_CTRL"},
    {14, "load IA32_PAT"},
    {15, "load IA32_EFER"},
    {16, "load IA32_BNDCFGS"},
    {17, "conceal VMX from PT"},
    {18, "load IA32_RTIT_CTL"},
    {20, "load CET state"},
    {21, "load guest IA32_LBR_CTL"},
    {22, "load PKRS"},
};

template <std::size_t N> const char* find_name(const BitName (&table)[N], unsigned bit) {
    for (const BitName& b : table) {
        if (b.bit == bit) return b.name;
    }
    return nullptr;
}

constexpr std::uint32_t low(std::uint64_t v) {
    return static_cast<std::uint32_t>(v);
}
constexpr std::uint32_t high(std::uint64_t v) {
    return static_cast<std::uint32_t>(v >> 32);
}

ControlCapability from_msr(std::uint64_t value, std::uint32_t msr) {
    return ControlCapability{low(value), high(value), caps_msr_name(msr)};
}

bool same_text(const char* a, const char* b) {
    if (a == nullptr || b == nullptr) return a == b;
    while (*a != '\0' && *a == *b) {
        ++a;
        ++b;
    }
    return *a == *b;
}

} // namespace

const char* control_bit_name(ControlSet set, unsigned bit) {
    switch (set) {
    case ControlSet::pin_based:
        return find_name(kPinNames, bit);
    case ControlSet::primary_processor_based:
        return find_name(kPrimaryNames, bit);
    case ControlSet::secondary_processor_based:
        return find_name(kSecondaryNames, bit);
    case ControlSet::exit:
        return find_name(kExitNames, bit);
    case ControlSet::entry:
        return find_name(kEntryNames, bit);
    }
    return nullptr;
}

const char* control_set_name(ControlSet set) {
    switch (set) {
    case ControlSet::pin_based:
        return "pin-based VM-execution controls";
    case ControlSet::primary_processor_based:
        return "primary processor-based VM-execution controls";
    case ControlSet::secondary_processor_based:
        return "secondary processor-based VM-execution controls";
    case ControlSet::exit:
        return "VM-exit controls";
    case ControlSet::entry:
        return "VM-entry controls";
    }
    return "?";
}

ControlCapability control_capability(ControlSet set, const VmxCaps& caps) {
    // SDM "Algorithms for Determining VMX Capabilities": with BASIC[55] = 1 the TRUE MSRs give
    // the real allowed-0 settings, so default1 controls such as CR3-load exiting may be 0.
    const bool t = caps.has_true_controls();
    switch (set) {
    case ControlSet::pin_based:
        return t ? from_msr(caps.true_pinbased_ctls, msr::ia32_vmx_true_pinbased_ctls)
                 : from_msr(caps.pinbased_ctls, msr::ia32_vmx_pinbased_ctls);
    case ControlSet::primary_processor_based:
        return t ? from_msr(caps.true_procbased_ctls, msr::ia32_vmx_true_procbased_ctls)
                 : from_msr(caps.procbased_ctls, msr::ia32_vmx_procbased_ctls);
    case ControlSet::secondary_processor_based:
        // IA32_VMX_PROCBASED_CTLS2 exists only if "activate secondary controls" may be 1; if
        // not, the CPU acts as if every secondary control were 0.
        if (((caps.procbased_ctls >> 63) & 1u) == 0) {
            return ControlCapability{0, 0, caps_msr_name(msr::ia32_vmx_procbased_ctls)};
        }
        return from_msr(caps.procbased_ctls2, msr::ia32_vmx_procbased_ctls2);
    case ControlSet::exit:
        return t ? from_msr(caps.true_exit_ctls, msr::ia32_vmx_true_exit_ctls)
                 : from_msr(caps.exit_ctls, msr::ia32_vmx_exit_ctls);
    case ControlSet::entry:
        return t ? from_msr(caps.true_entry_ctls, msr::ia32_vmx_true_entry_ctls)
                 : from_msr(caps.entry_ctls, msr::ia32_vmx_entry_ctls);
    }
    return ControlCapability{0, 0, "?"};
}

const char* capability_msr_name(ControlSet set, const VmxCaps& caps) {
    if (set == ControlSet::secondary_processor_based) {
        return caps_msr_name(msr::ia32_vmx_procbased_ctls2);
    }
    return control_capability(set, caps).msr_name;
}

ControlResolution resolve_control(ControlSet set, std::uint32_t requested, const VmxCaps& caps) {
    return resolve_control(set, requested, 0, caps);
}

ControlResolution resolve_control(ControlSet set, std::uint32_t requested,
                                  std::uint32_t required_clear, const VmxCaps& caps) {
    const ControlCapability cap = control_capability(set, caps);
    required_clear &= ~requested;
    ControlResolution r{};
    r.set = set;
    r.msr_name = cap.msr_name;
    r.value = (requested | cap.must_be_1) & cap.allowed_1;
    r.forced = cap.must_be_1 & ~requested;
    r.refused = (requested & ~cap.allowed_1) | (required_clear & cap.must_be_1);
    return r;
}

void describe_refusal(const ControlResolution& r, Text& out) {
    const bool no_secondary = r.set == ControlSet::secondary_processor_based &&
                              same_text(r.msr_name, caps_msr_name(msr::ia32_vmx_procbased_ctls));
    bool first = true;
    for (unsigned bit = 0; bit < 32; ++bit) {
        const std::uint32_t mask = 1u << bit;
        if ((r.refused & mask) == 0) continue;
        if (!first) out.chr('\n');
        first = false;

        const char* name = control_bit_name(r.set, bit);
        const bool forced_on = (r.value & mask) != 0;
        out.str(forced_on ? "CPU forces " : "CPU does not allow ");
        if (name != nullptr) {
            out.chr('"').str(name).chr('"');
        } else {
            out.str("bit ").dec(bit);
        }
        if (forced_on) out.str(" on");
        out.str(" (bit ").dec(bit).str(" of the ").str(control_set_name(r.set)).str(", ");
        if (no_secondary) {
            out.str(r.msr_name)
                .str(" bit 63 = 0: \"activate secondary controls\" is not allowed, so every "
                     "secondary control is 0).");
        } else {
            out.str(r.msr_name).str(forced_on ? " allowed-0 = 1)." : " allowed-1 = 0).");
        }
    }
}

} // namespace vmx
