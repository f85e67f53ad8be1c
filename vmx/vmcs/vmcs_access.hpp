// The narrow interface between the pure exit handling and the current VMCS. On the target it is
// VMREAD/VMWRITE (vmx/hw); in unit tests a fake VMCS that can also inject failures.
#pragma once
#include <cstdint>

#include "vmx/arch/vmcs_fields.hpp"

namespace vmx {

class VmcsAccess {
  public:
    // False when the instruction failed; the implementation records the VM-instruction error.
    virtual bool read(Field field, std::uint64_t* value) = 0;
    virtual bool write(Field field, std::uint64_t value) = 0;

    std::uint64_t read_or_zero(Field field) {
        std::uint64_t v = 0;
        return read(field, &v) ? v : 0;
    }

  protected:
    VmcsAccess() = default;
    ~VmcsAccess() = default;
    VmcsAccess(const VmcsAccess&) = default;
    VmcsAccess& operator=(const VmcsAccess&) = default;
};

} // namespace vmx
