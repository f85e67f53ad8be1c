// Reads the VMX capability MSRs of the running CPU into a VmxCaps, asking only for MSRs that
// exist: RDMSR of a capability MSR the CPU does not implement raises #GP (SDM: "VMX Capability
// Reporting Facility"), which inside metronome.efi would be a crash before anything is printed.
// The read itself is left to the caller (vmx/hw supplies rdmsr; tests supply a fake), so this
// stays pure.
#pragma once
#include <cstdint>

#include "vmx/caps/caps.hpp"

namespace vmx {

// A function pointer and its context rather than a virtual interface: an abstract class would
// make the freestanding link need __cxa_pure_virtual and a vtable for one call site.
struct MsrReader {
    std::uint64_t (*read_fn)(void* context, std::uint32_t msr) = nullptr;
    void* context = nullptr;

    std::uint64_t read(std::uint32_t msr) const { return read_fn(context, msr); }
};

// Wraps any callable `std::uint64_t(std::uint32_t)` that outlives the returned reader.
template <typename F> MsrReader make_msr_reader(F& callable) {
    return MsrReader{[](void* context, std::uint32_t msr) -> std::uint64_t {
                         return (*static_cast<F*>(context))(msr);
                     },
                     &callable};
}

// Always: BASIC, PINBASED/PROCBASED/EXIT/ENTRY_CTLS, MISC, CR0/CR4 FIXED0/1, VMCS_ENUM.
// PROCBASED_CTLS2 only when PROCBASED_CTLS[63] ("activate secondary controls" may be 1);
// EPT_VPID_CAP only when PROCBASED_CTLS2[33] ("enable EPT") or [37] ("enable VPID") may be 1;
// the four TRUE_*_CTLS only when BASIC[55]. MSRs not read stay 0 in the result.
VmxCaps read_vmx_caps(const MsrReader& reader);

} // namespace vmx
