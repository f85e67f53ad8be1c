// The only code that executes VMX instructions. Each wrapper returns the instruction's outcome
// as the SDM's conventions define it (CF=1: VMfailInvalid, ZF=1: VMfailValid with an error
// number in the VM-instruction error field); callers turn failures into words with
// vmx::vm_instruction_error_text. Runs in VMX root operation only (ring 0, target build).
#pragma once
#include <cstdint>

#include "vmx/run/guest_registers.hpp"

namespace vmx::hw {

enum class VmxStatus : std::uint8_t { ok = 0, fail_invalid = 1, fail_valid = 2 };

namespace detail {
inline VmxStatus status_from_flags(std::uint8_t cf, std::uint8_t zf) {
    if (cf != 0) return VmxStatus::fail_invalid;
    if (zf != 0) return VmxStatus::fail_valid;
    return VmxStatus::ok;
}
} // namespace detail

inline VmxStatus vmxon(std::uint64_t region_physical) {
    std::uint8_t cf, zf;
    asm volatile("vmxon %[region]; setc %[cf]; setz %[zf]"
                 : [cf] "=r"(cf), [zf] "=r"(zf)
                 : [region] "m"(region_physical)
                 : "cc", "memory");
    return detail::status_from_flags(cf, zf);
}

inline VmxStatus vmxoff() {
    std::uint8_t cf, zf;
    asm volatile("vmxoff; setc %[cf]; setz %[zf]" : [cf] "=r"(cf), [zf] "=r"(zf) : : "cc", "memory");
    return detail::status_from_flags(cf, zf);
}

inline VmxStatus vmclear(std::uint64_t vmcs_physical) {
    std::uint8_t cf, zf;
    asm volatile("vmclear %[vmcs]; setc %[cf]; setz %[zf]"
                 : [cf] "=r"(cf), [zf] "=r"(zf)
                 : [vmcs] "m"(vmcs_physical)
                 : "cc", "memory");
    return detail::status_from_flags(cf, zf);
}

inline VmxStatus vmptrld(std::uint64_t vmcs_physical) {
    std::uint8_t cf, zf;
    asm volatile("vmptrld %[vmcs]; setc %[cf]; setz %[zf]"
                 : [cf] "=r"(cf), [zf] "=r"(zf)
                 : [vmcs] "m"(vmcs_physical)
                 : "cc", "memory");
    return detail::status_from_flags(cf, zf);
}

inline VmxStatus vmread(std::uint32_t field, std::uint64_t* value) {
    std::uint8_t cf, zf;
    std::uint64_t v;
    asm volatile("vmread %[field], %[value]; setc %[cf]; setz %[zf]"
                 : [value] "=r"(v), [cf] "=r"(cf), [zf] "=r"(zf)
                 : [field] "r"(static_cast<std::uint64_t>(field))
                 : "cc");
    *value = v;
    return detail::status_from_flags(cf, zf);
}

inline VmxStatus vmwrite(std::uint32_t field, std::uint64_t value) {
    std::uint8_t cf, zf;
    asm volatile("vmwrite %[value], %[field]; setc %[cf]; setz %[zf]"
                 : [cf] "=r"(cf), [zf] "=r"(zf)
                 : [field] "r"(static_cast<std::uint64_t>(field)), [value] "r"(value)
                 : "cc");
    return detail::status_from_flags(cf, zf);
}

// INVEPT type 1 (single context) for one EPTP (SDM "INVEPT—Invalidate Translations Derived
// from EPT"); the descriptor is 128 bits: EPTP, then zero.
inline VmxStatus invept_single_context(std::uint64_t eptp) {
    struct alignas(16) Descriptor {
        std::uint64_t eptp, reserved;
    } descriptor{eptp, 0};
    std::uint8_t cf, zf;
    asm volatile("invept %[desc], %[type]; setc %[cf]; setz %[zf]"
                 : [cf] "=r"(cf), [zf] "=r"(zf)
                 : [desc] "m"(descriptor), [type] "r"(static_cast<std::uint64_t>(1))
                 : "cc", "memory");
    return detail::status_from_flags(cf, zf);
}

} // namespace vmx::hw

namespace vmx {
struct Vcpu;
}

// vm_entry.S; see the comment there for the contract. Two integers: RAX and RDX (SysV).
struct VmEnterResult {
    std::int64_t rc;   // 0: a VM exit for the run loop; 1, 2, 3: the entry failed
    vmx::Vcpu* guest;  // whose exit, or whose entry failed
};
extern "C" VmEnterResult metronome_vm_enter(vmx::Vcpu* guest, int launched);
extern "C" void metronome_vm_exit();
