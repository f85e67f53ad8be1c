// VMREAD and VMWRITE of the current VMCS, inline, for vmx/vmcs/vmcs_access.hpp in metronome.efi.
// A failure (VMfailInvalid: no current VMCS; VMfailValid: the error number says why) is rare and
// leaves the hot path: note_failure records it for the report (vmx/hw/platform.cpp).
#pragma once
#include <cstdint>

#include "vmx/arch/vmcs_fields.hpp"

namespace vmx::vmcs {

[[gnu::cold]] void note_failure(std::uint32_t encoding);

inline bool read(Field field, std::uint64_t* value) {
    const std::uint64_t encoding = field_encoding(field);
    std::uint64_t v;
    asm goto("vmread %[field], %[value]\n\tjbe %l[failed]"
             : [value] "=r"(v)
             : [field] "r"(encoding)
             : "cc"
             : failed);
    *value = v;
    return true;
failed:
    note_failure(static_cast<std::uint32_t>(encoding));
    *value = 0;
    return false;
}

inline bool write(Field field, std::uint64_t value) {
    const std::uint64_t encoding = field_encoding(field);
    asm goto("vmwrite %[value], %[field]\n\tjbe %l[failed]"
             :
             : [field] "r"(encoding), [value] "rm"(value)
             : "cc"
             : failed);
    return true;
failed:
    note_failure(static_cast<std::uint32_t>(encoding));
    return false;
}

} // namespace vmx::vmcs
