#include "vmx/vmcs/preemption_timer.hpp"

#include "vmx/lib/text.hpp"

namespace vmx {

void describe_preemption_timer_value(const PreemptionTimerValue& v, unsigned rate_shift,
                                     Text& out) {
    out.str("slice = ").dec(v.tsc_ticks_requested).str(" TSC ticks -> timer ").dec(v.value);
    out.str(" (rate ").dec(rate_shift & 0x1f).str(") = ").dec(v.tsc_ticks_programmed);
    out.str(" ticks");
    if (v.clamped_low) out.str(", raised to the minimum of 1");
    if (v.clamped_high) out.str(", cut to the 32-bit maximum");
    if (v.erratum_capped) out.str(", capped below 2^25*CPUID.15H:EBX/EAX (early-expiry erratum)");
}

} // namespace vmx
