// CR0 and CR4 under VMX: the bits the IA32_VMX_CR0/CR4_FIXED0/FIXED1 MSRs pin (SDM appendix
// "VMX-Fixed Bits in CR0" and "VMX-Fixed Bits in CR4"). A bit set in FIXED0 must be 1, a bit
// clear in FIXED1 must be 0, in VMX operation and in every guest CR0/CR4 field at VM entry.
#pragma once
#include "vmx/arch/x86.hpp"
#include "vmx/caps/caps.hpp"

#include <cstdint>

namespace vmx {


// The CR0 bits that must be 1. With "unrestricted guest" a guest may run unpaged or in real
// mode, so VM entry does not check PE and PG against FIXED0 (SDM "Checks on Guest Control
// Registers, Debug Registers, and MSRs"). CD and NW are never forced on real CPUs (FIXED0 has
// them 0, FIXED1 has them 1), so they follow the MSRs like every other bit.
constexpr std::uint64_t cr0_must_be_one(const VmxCaps& caps, bool unrestricted_guest) {
    return unrestricted_guest ? (caps.cr0_fixed0 & ~(cr0::pe | cr0::pg)) : caps.cr0_fixed0;
}

constexpr std::uint64_t adjust_cr0(std::uint64_t requested, const VmxCaps& caps,
                                   bool unrestricted_guest) {
    return (requested | cr0_must_be_one(caps, unrestricted_guest)) & caps.cr0_fixed1;
}

// No exemption for CR4: FIXED0 bit 13 forces CR4.VMXE, in the host and in every guest.
constexpr std::uint64_t adjust_cr4(std::uint64_t requested, const VmxCaps& caps) {
    return (requested | caps.cr4_fixed0) & caps.cr4_fixed1;
}

// Which bits of a value break the fixed-bit rules: used on the host's own CR0/CR4 before VMXON,
// which faults (#GP) on any of them.
struct CrCheck {
    bool ok;
    std::uint64_t must_set;   // 0 in the value, required to be 1
    std::uint64_t must_clear; // 1 in the value, required to be 0
};

constexpr CrCheck check_fixed_bits(std::uint64_t value, std::uint64_t must_be_one,
                                   std::uint64_t may_be_one) {
    const std::uint64_t set = must_be_one & ~value;
    const std::uint64_t clear = value & ~may_be_one;
    return {set == 0 && clear == 0, set, clear};
}
constexpr CrCheck check_cr0(std::uint64_t value, const VmxCaps& caps, bool unrestricted_guest) {
    return check_fixed_bits(value, cr0_must_be_one(caps, unrestricted_guest), caps.cr0_fixed1);
}
constexpr CrCheck check_cr4(std::uint64_t value, const VmxCaps& caps) {
    return check_fixed_bits(value, caps.cr4_fixed0, caps.cr4_fixed1);
}

// Short SDM names ("PE", "VMXE") for reports naming each offending bit; "reserved" for bits
// with no name.
const char* cr0_bit_name(unsigned bit);
const char* cr4_bit_name(unsigned bit);

} // namespace vmx
