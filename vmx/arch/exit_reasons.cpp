#include "vmx/arch/exit_reasons.hpp"

namespace vmx {
namespace {

struct ReasonEntry {
    std::uint16_t basic;
    const char* name;
    const char* key;
};

// SDM appendix "VMX Basic Exit Reasons".
constexpr ReasonEntry kReasons[] = {
    {0, "exception or NMI", "exception_or_nmi"},
    {1, "external interrupt", "external_interrupt"},
    {2, "triple fault", "triple_fault"},
    {3, "INIT signal", "init_signal"},
    {4, "start-up IPI", "sipi"},
    {5, "I/O system-management interrupt", "io_smi"},
    {6, "other SMI", "other_smi"},
    {7, "interrupt window", "interrupt_window"},
    {8, "NMI window", "nmi_window"},
    {9, "task switch", "task_switch"},
    {10, "CPUID", "cpuid"},
    {11, "GETSEC", "getsec"},
    {12, "HLT", "hlt"},
    {13, "INVD", "invd"},
    {14, "INVLPG", "invlpg"},
    {15, "RDPMC", "rdpmc"},
    {16, "RDTSC", "rdtsc"},
    {17, "RSM", "rsm"},
    {18, "VMCALL", "vmcall"},
    {19, "VMCLEAR", "vmclear"},
    {20, "VMLAUNCH", "vmlaunch"},
    {21, "VMPTRLD", "vmptrld"},
    {22, "VMPTRST", "vmptrst"},
    {23, "VMREAD", "vmread"},
    {24, "VMRESUME", "vmresume"},
    {25, "VMWRITE", "vmwrite"},
    {26, "VMXOFF", "vmxoff"},
    {27, "VMXON", "vmxon"},
    {28, "control-register access", "cr_access"},
    {29, "MOV DR", "mov_dr"},
    {30, "I/O instruction", "io"},
    {31, "RDMSR", "rdmsr"},
    {32, "WRMSR", "wrmsr"},
    {33, "VM-entry failure due to invalid guest state", "entry_failure_guest_state"},
    {34, "VM-entry failure due to MSR loading", "entry_failure_msr_loading"},
    {36, "MWAIT", "mwait"},
    {37, "monitor trap flag", "monitor_trap_flag"},
    {39, "MONITOR", "monitor"},
    {40, "PAUSE", "pause"},
    {41, "VM-entry failure due to machine-check event", "entry_failure_machine_check"},
    {43, "TPR below threshold", "tpr_below_threshold"},
    {44, "APIC access", "apic_access"},
    {45, "virtualized EOI", "virtualized_eoi"},
    {46, "access to GDTR or IDTR", "gdtr_idtr_access"},
    {47, "access to LDTR or TR", "ldtr_tr_access"},
    {48, "EPT violation", "ept_violation"},
    {49, "EPT misconfiguration", "ept_misconfiguration"},
    {50, "INVEPT", "invept"},
    {51, "RDTSCP", "rdtscp"},
    {52, "VMX-preemption timer expired", "preemption_timer"},
    {53, "INVVPID", "invvpid"},
    {54, "WBINVD or WBNOINVD", "wbinvd"},
    {55, "XSETBV", "xsetbv"},
    {56, "APIC write", "apic_write"},
    {57, "RDRAND", "rdrand"},
    {58, "INVPCID", "invpcid"},
    {59, "VMFUNC", "vmfunc"},
    {60, "ENCLS", "encls"},
    {61, "RDSEED", "rdseed"},
    {62, "page-modification log full", "pml_full"},
    {63, "XSAVES", "xsaves"},
    {64, "XRSTORS", "xrstors"},
    {65, "PCONFIG", "pconfig"},
    {66, "SPP-related event", "spp_event"},
    {67, "UMWAIT", "umwait"},
    {68, "TPAUSE", "tpause"},
    {69, "LOADIWKEY", "loadiwkey"},
    {70, "ENCLV", "enclv"},
    {72, "ENQCMD PASID translation failure", "enqcmd_pasid_failure"},
    {73, "ENQCMDS PASID translation failure", "enqcmds_pasid_failure"},
    {74, "bus lock", "bus_lock"},
    {75, "instruction timeout", "instruction_timeout"},
};

const ReasonEntry* find_reason(std::uint16_t basic) {
    for (const auto& r : kReasons) {
        if (r.basic == basic) return &r;
    }
    return nullptr;
}

// SDM "VM Instruction Error Numbers"; index = error number.
constexpr const char* kInstructionErrors[] = {
    nullptr,
    "VMCALL executed in VMX root operation",
    "VMCLEAR with invalid physical address",
    "VMCLEAR with VMXON pointer",
    "VMLAUNCH with non-clear VMCS",
    "VMRESUME with non-launched VMCS",
    "VMRESUME after VMXOFF (VMXOFF and VMXON between VMLAUNCH and VMRESUME)",
    "VM entry with invalid control field(s)",
    "VM entry with invalid host-state field(s)",
    "VMPTRLD with invalid physical address",
    "VMPTRLD with VMXON pointer",
    "VMPTRLD with incorrect VMCS revision identifier",
    "VMREAD/VMWRITE from/to unsupported VMCS component",
    "VMWRITE to read-only VMCS component",
    nullptr,
    "VMXON executed in VMX root operation",
    "VM entry with invalid executive-VMCS pointer",
    "VM entry with non-launched executive VMCS",
    "VM entry with executive-VMCS pointer not VMXON pointer",
    "VMCALL with non-clear VMCS",
    "VMCALL with invalid VM-exit control fields",
    nullptr,
    "VMCALL with incorrect MSEG revision identifier",
    "VMXOFF under dual-monitor treatment of SMIs and SMM",
    "VMCALL with invalid SMM-monitor features",
    "VM entry with invalid VM-execution control fields in executive VMCS",
    "VM entry with events blocked by MOV SS",
    nullptr,
    "invalid operand to INVEPT/INVVPID",
};

} // namespace

const char* exit_reason_name(std::uint16_t basic) {
    const ReasonEntry* r = find_reason(basic);
    return r != nullptr ? r->name : "unknown exit reason";
}

const char* exit_reason_key(std::uint16_t basic) {
    const ReasonEntry* r = find_reason(basic);
    return r != nullptr ? r->key : "unknown";
}

const char* vm_instruction_error_text(std::uint32_t number) {
    constexpr auto count = sizeof(kInstructionErrors) / sizeof(kInstructionErrors[0]);
    if (number < count && kInstructionErrors[number] != nullptr) return kInstructionErrors[number];
    return number == 0 ? "no error recorded" : "unknown VM-instruction error";
}

// SDM "VM-Entry Failures During or After Loading Guest State": the exit qualification says
// which check failed beyond the ordinary guest-state checks.
const char* entry_failure_qualification_text(std::uint64_t qualification) {
    switch (qualification) {
    case 0: return "a guest-state check failed (not further specified)";
    case 2: return "failure while loading the PDPTEs";
    case 3: return "attempt to inject an NMI while NMI blocking by STI or MOV SS";
    case 4: return "invalid VMCS link pointer";
    default: return "unknown entry-failure qualification";
    }
}

} // namespace vmx
