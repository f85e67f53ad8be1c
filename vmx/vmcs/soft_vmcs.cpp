// The host build's current VMCS (vmx/vmcs/vmcs_access.hpp): whichever software VMCS a test
// installed. metronome.efi uses the processor's instead and has no such variable.
#include "vmx/vmcs/vmcs_access.hpp"

#if !defined(METRONOME_TARGET)
namespace vmx::vmcs {
SoftVmcs* current = nullptr;
} // namespace vmx::vmcs
#endif
