// The VMX-preemption timer value for a time slice (SDM "VMX-Preemption Timer"): the timer
// counts down by one every 2^X TSC ticks, X = IA32_VMX_MISC[4:0], from a 32-bit value.
// Slice (µs) -> TSC ticks -> timer units, with the rounding and clamping stated here.
// All arithmetic is 64-bit: no 128-bit division, which would need libgcc in the freestanding
// build.
#pragma once
#include <cstdint>
#include <limits>

namespace vmx {

namespace timer_math {
inline constexpr std::uint64_t max64 = std::numeric_limits<std::uint64_t>::max();
inline constexpr std::uint64_t us_per_s = 1000000;

constexpr std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) {
    return a > max64 - b ? max64 : a + b;
}
constexpr std::uint64_t sat_mul(std::uint64_t a, std::uint64_t b) {
    return (a != 0 && b > max64 / a) ? max64 : a * b;
}
} // namespace timer_math

// round(us * tsc_hz / 10^6), halves up, saturating at 2^64-1. tsc_hz = mhz * 10^6 + rem and
// us = q * 10^6 + r give us * tsc_hz / 10^6 = us * mhz + q * rem + r * rem / 10^6, where only
// the last term has a fraction and r * rem < 10^12 cannot overflow.
constexpr std::uint64_t us_to_tsc_ticks(std::uint64_t us, std::uint64_t tsc_hz) {
    using timer_math::sat_add, timer_math::sat_mul, timer_math::us_per_s;
    const std::uint64_t mhz = tsc_hz / us_per_s, rem = tsc_hz % us_per_s;
    const std::uint64_t q = us / us_per_s, r = us % us_per_s;
    const std::uint64_t fraction = r * rem;
    const std::uint64_t round_up = (fraction % us_per_s) * 2 >= us_per_s ? 1 : 0;
    return sat_add(sat_add(sat_mul(us, mhz), sat_mul(q, rem)), fraction / us_per_s + round_up);
}

// round(ticks * 10^6 / tsc_hz), halves up, saturating; 0 when tsc_hz is 0. ticks = q * tsc_hz
// + r gives q * 10^6 + r * 10^6 / tsc_hz; r * 10^6 fits in 64 bits while tsc_hz < 1.8e13 Hz,
// beyond that r and tsc_hz are scaled down together (a relative error below 2^-44).
constexpr std::uint64_t tsc_ticks_to_us(std::uint64_t ticks, std::uint64_t tsc_hz) {
    using timer_math::max64, timer_math::sat_add, timer_math::sat_mul, timer_math::us_per_s;
    if (tsc_hz == 0) return 0;
    const std::uint64_t q = ticks / tsc_hz;
    std::uint64_t r = ticks % tsc_hz, hz = tsc_hz;
    while (hz > max64 / us_per_s) {
        hz >>= 1;
        r >>= 1;
    }
    const std::uint64_t num = r * us_per_s;
    const std::uint64_t rest = num % hz;
    const std::uint64_t round_up = rest >= hz - rest ? 1 : 0;
    return sat_add(sat_mul(q, us_per_s), num / hz + round_up);
}

// The early-expiry erratum's bound (see preemption_timer_value): the largest timer value with
// value * EAX < 2^25 * EBX when CPUID.15H reports both (2^25 * EBX < 2^57 fits), else no bound.
constexpr std::uint64_t preemption_timer_erratum_limit(std::uint32_t cpuid15_eax, std::uint32_t cpuid15_ebx) {
    if (cpuid15_eax == 0 || cpuid15_ebx == 0) return timer_math::max64;
    return ((static_cast<std::uint64_t>(cpuid15_ebx) << 25) - 1) / cpuid15_eax;
}

struct PreemptionTimerValue {
    std::uint32_t value;               // for the VMCS "VMX-preemption timer value" field
    std::uint64_t tsc_ticks_requested; // the slice in TSC ticks
    std::uint64_t tsc_ticks_programmed; // value << rate: what the timer will actually count
    bool clamped_low;    // a non-zero slice rounded to 0 units; raised to 1
    bool clamped_high;   // more than 2^32-1 units; lowered to 2^32-1
    bool erratum_capped; // lowered below the early-expiry erratum threshold
};

// slice_us -> value:
//  - ticks = slice_us * tsc_hz / 10^6, rounded to nearest;
//  - value = ticks >> rate, rounded to nearest (halves up), so the programmed slice is within
//    half a timer unit (2^(rate-1) ticks) of the request unless clamped;
//  - a zero slice gives 0 (VM exit before the first guest instruction); a non-zero slice gives
//    at least 1; at most 0xFFFFFFFF;
//  - when CPUID.15H reports EAX != 0 and EBX != 0, value < 2^25 * EBX / EAX: the workaround
//    Intel gives for the erratum "VMX-Preemption Timer May Expire Earlier With Certain Large
//    Timer Values" (e.g. EMR158 in the 5th Gen Xeon specification update; reported on SKX,
//    CLX and ICX too), i.e. keep the timer under 2^25 crystal-clock periods.
// rate_shift is IA32_VMX_MISC[4:0]; only its low 5 bits are used.
constexpr PreemptionTimerValue preemption_timer_value(std::uint64_t slice_us,
                                                      std::uint64_t tsc_hz, unsigned rate_shift,
                                                      std::uint32_t cpuid15_eax,
                                                      std::uint32_t cpuid15_ebx) {
    const unsigned rate = rate_shift & 0x1f;
    PreemptionTimerValue out{0, us_to_tsc_ticks(slice_us, tsc_hz), 0, false, false, false};
    const std::uint64_t ticks = out.tsc_ticks_requested;
    std::uint64_t units = ticks >> rate;
    if (rate > 0) units += (ticks >> (rate - 1)) & 1; // the bit just below the cut: >= half
    if (slice_us != 0 && units == 0) {
        units = 1;
        out.clamped_low = true;
    }
    if (units > 0xffffffffu) {
        units = 0xffffffffu;
        out.clamped_high = true;
    }
    std::uint64_t limit = preemption_timer_erratum_limit(cpuid15_eax, cpuid15_ebx);
    if (limit == 0 && slice_us != 0) limit = 1; // an absurd leaf; keep the slice non-zero
    if (units > limit) {
        units = limit;
        out.erratum_capped = true;
    }
    out.value = static_cast<std::uint32_t>(units);
    out.tsc_ticks_programmed = units << rate;
    return out;
}

// The timer value that fires at TSC `deadline` or at most one timer unit later, seen from `now`:
// rounding up never ends a slice early. 0 when the deadline has passed (exit before any guest
// instruction); at most `limit` (the erratum cap, or all ones). The run loop arms each entry with
// it, and the fast path re-arms a resumed exit when the CPU does not save the timer.
constexpr std::uint32_t timer_units_until(std::uint64_t now, std::uint64_t deadline, unsigned rate_shift,
                                          std::uint32_t limit) {
    if (deadline <= now) return 0;
    // ceil(ticks / 2^rate) for ticks >= 1, without the overflow of adding 2^rate - 1 first.
    const std::uint64_t units = ((deadline - now - 1) >> (rate_shift & 0x1f)) + 1;
    return units > limit ? limit : static_cast<std::uint32_t>(units);
}

// Root-mode ticks a handled exit may take before the fast path re-arms a saved timer value
// (FastPath::rearm_after, vmx/run/vcpu.hpp): the value the CPU saved at the exit does not count
// the exit's own root-mode time, so each resumed exit carries the deadline that much later. Up to this bound (a CPUID, an I/O port, an MSR take
// under 100) the next exit or the timer finds the slice's end at most this late; a slower exit
// (a console line, an emulated xAPIC access) re-arms the timer for the same deadline.
inline constexpr std::uint64_t timer_resync_ticks = 128;

class Text;
// One line for reports, e.g. "slice = 50000 TSC ticks -> timer 50000 (rate 0) = 50000 ticks",
// with any clamp named.
void describe_preemption_timer_value(const PreemptionTimerValue& v, unsigned rate_shift,
                                     Text& out);

} // namespace vmx
