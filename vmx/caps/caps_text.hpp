// VMX capability MSRs as text: one `IA32_VMX_NAME=0xHEX` per line, `#` starts a comment. This is
// the format of testdata/vmx-caps/*.txt and of what `metronome.efi` prints, so a capability set
// seen on one machine can be replayed on the host (tests, `vmcs-plan`) and in bug reports.
// Pure and freestanding: no allocation, no libc.
#pragma once
#include <cstddef>
#include <cstdint>

#include "vmx/caps/caps.hpp"
#include "vmx/arch/msr.hpp"

namespace vmx {

// The capability MSRs are numbered contiguously from IA32_VMX_BASIC (0x480) to
// IA32_VMX_TRUE_ENTRY_CTLS (0x490); `present` uses bit (msr - 0x480).
inline constexpr unsigned caps_msr_count = 17;

constexpr bool is_caps_msr(std::uint32_t msr) {
    return msr >= msr::ia32_vmx_basic && msr < msr::ia32_vmx_basic + caps_msr_count;
}
constexpr std::uint32_t caps_present_bit(std::uint32_t msr) {
    return is_caps_msr(msr) ? 1u << (msr - msr::ia32_vmx_basic) : 0u;
}

struct CapsParseResult {
    VmxCaps caps{};
    bool ok = false;
    // 1-based line of the first error; 0 when the error is about the whole set (a missing MSR).
    unsigned error_line = 0;
    // The first error in words, including "line N: " when it is about one line; "" when ok.
    char error[96] = {};
    // caps_present_bit(msr) for every MSR that appeared in the text.
    std::uint32_t present = 0;

    constexpr bool has(std::uint32_t msr) const { return (present & caps_present_bit(msr)) != 0; }
};

// The SDM name of a capability MSR ("IA32_VMX_TRUE_ENTRY_CTLS"), or nullptr for other numbers.
const char* caps_msr_name(std::uint32_t msr);

// Parses `length` bytes of text (need not be NUL-terminated). Rejects unknown names, malformed
// numbers, duplicates, control MSRs whose must-be-1 bits are not allowed to be 1, and sets that
// lack an MSR the architecture says exists: the ten always-present ones (VMCS_ENUM is optional
// here), the four TRUE MSRs when BASIC[55] = 1, PROCBASED_CTLS2 when PROCBASED_CTLS[63] = 1, and
// EPT_VPID_CAP when PROCBASED_CTLS2 allows "enable EPT" or "enable VPID".
CapsParseResult parse_caps_text(const char* text, std::size_t length);

} // namespace vmx
