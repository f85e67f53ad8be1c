// The current VMCS, as the run loop and the exit handlers reach it: vmcs::read and vmcs::write of
// a Field. The seam is chosen at compile time, so the hot path makes no indirect call:
//  - in metronome.efi (METRONOME_TARGET) they are VMREAD and VMWRITE, inline
//    (vmx/hw/vmcs_current.hpp), and a failure is recorded for the report;
//  - on the host (unit tests) they reach the software VMCS a test installs (SoftVmcs below),
//    which can also be told to fail.
// A failed read gives 0.
#pragma once
#include <cstdint>

#include "vmx/arch/vmcs_fields.hpp"

#if defined(METRONOME_TARGET)
#include "vmx/hw/vmcs_current.hpp"
#else
namespace vmx::vmcs {

class SoftVmcs {
  public:
    virtual bool read(Field field, std::uint64_t* value) = 0;
    virtual bool write(Field field, std::uint64_t value) = 0;

  protected:
    SoftVmcs() = default;
    ~SoftVmcs() = default;
    SoftVmcs(const SoftVmcs&) = default;
    SoftVmcs& operator=(const SoftVmcs&) = default;
};

// The VMCS the host build reads and writes (vmx/vmcs/soft_vmcs.cpp); tests set it.
extern SoftVmcs* current;

inline bool read(Field field, std::uint64_t* value) {
    if (current->read(field, value)) return true;
    *value = 0;
    return false;
}
inline bool write(Field field, std::uint64_t value) { return current->write(field, value); }

} // namespace vmx::vmcs
#endif

namespace vmx::vmcs {
inline std::uint64_t read(Field field) {
    std::uint64_t v = 0;
    read(field, &v);
    return v;
}
} // namespace vmx::vmcs
