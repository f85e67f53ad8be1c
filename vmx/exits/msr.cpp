// RDMSR, WRMSR and RDPMC. Only MSRs outside the set switched per guest exit (the MSR bitmap,
// vmx/vmcs/msr_bitmap.hpp): they belong to the host, and a guest touching one gets what a CPU
// without it would give, #GP(0). Guests have no performance counters (CPUID leaf 0xA reads
// zero), so RDPMC of any counter is #GP(0) too.
#include "vmx/arch/interruption.hpp"
#include "vmx/exits/exit_helpers.hpp"

namespace vmx {

ExitOutcome handle_msr(Vcpu& guest, std::uint16_t) {
    inject_exception(guest, vector::gp, 0);
    return ExitOutcome::resume;
}

} // namespace vmx
