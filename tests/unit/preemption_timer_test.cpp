#include "vmx/vmcs/preemption_timer.hpp"

#include "vmx/lib/text.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <random>
#include <string>

using vmx::PreemptionTimerValue;
using vmx::preemption_timer_value;

namespace {

using u128 = unsigned __int128;

// The reference: exact 128-bit arithmetic, halves rounded up, saturated.
std::uint64_t ref_muldiv_round(std::uint64_t a, std::uint64_t b, std::uint64_t d) {
    const u128 q = (static_cast<u128>(a) * b + d / 2) / d;
    return q > ~0ull ? ~0ull : static_cast<std::uint64_t>(q);
}

constexpr std::uint64_t mhz(std::uint64_t n) { return n * 1000000; }

} // namespace

static_assert(vmx::us_to_tsc_ticks(1000, mhz(50)) == 50000);
static_assert(vmx::us_to_tsc_ticks(1, 1500000) == 2);
static_assert(vmx::us_to_tsc_ticks(1, 1499999) == 1);
static_assert(vmx::tsc_ticks_to_us(50000, mhz(50)) == 1000);
static_assert(preemption_timer_value(1000, mhz(50), 0, 2, 0x124).value == 50000);
static_assert(preemption_timer_value(1000, 3500000000, 6, 0, 0).value == 54688);
static_assert(preemption_timer_value(0, mhz(50), 0, 0, 0).value == 0);

TEST_CASE("microseconds to TSC ticks, rounded to nearest") {
    CHECK(vmx::us_to_tsc_ticks(1000, mhz(50)) == 50000);
    CHECK(vmx::us_to_tsc_ticks(1, 3500000000) == 3500);
    CHECK(vmx::us_to_tsc_ticks(3, 2500001) == 8);   // 7.500003 -> 8
    CHECK(vmx::us_to_tsc_ticks(3, 2499999) == 7);   // 7.499997 -> 7
    CHECK(vmx::us_to_tsc_ticks(1, 500000) == 1);    // 0.5 -> 1 (halves up)
    CHECK(vmx::us_to_tsc_ticks(1, 499999) == 0);
    CHECK(vmx::us_to_tsc_ticks(0, 3500000000) == 0);
    CHECK(vmx::us_to_tsc_ticks(12345, 0) == 0);
    // Saturates instead of wrapping.
    CHECK(vmx::us_to_tsc_ticks(~0ull, 3500000000) == ~0ull);
    CHECK(vmx::us_to_tsc_ticks(~0ull / 2, 2000001) == ~0ull);
}

TEST_CASE("us_to_tsc_ticks matches exact 128-bit arithmetic") {
    std::mt19937_64 rng(42);
    int mismatches = 0;
    for (int i = 0; i < 200000; ++i) {
        const std::uint64_t us = rng() >> (rng() % 64);
        const std::uint64_t hz = rng() >> (rng() % 64);
        if (vmx::us_to_tsc_ticks(us, hz) != ref_muldiv_round(us, hz, 1000000)) ++mismatches;
    }
    CHECK(mismatches == 0);
}

TEST_CASE("TSC ticks to microseconds, rounded to nearest") {
    CHECK(vmx::tsc_ticks_to_us(50000, mhz(50)) == 1000);
    CHECK(vmx::tsc_ticks_to_us(25, mhz(50)) == 1);  // 0.5 -> 1
    CHECK(vmx::tsc_ticks_to_us(24, mhz(50)) == 0);
    CHECK(vmx::tsc_ticks_to_us(3500000000, 3500000000) == 1000000);
    CHECK(vmx::tsc_ticks_to_us(100, 0) == 0);
    CHECK(vmx::tsc_ticks_to_us(~0ull, 1) == ~0ull); // saturates
    std::mt19937_64 rng(7);
    int mismatches = 0;
    for (int i = 0; i < 200000; ++i) {
        const std::uint64_t ticks = rng() >> (rng() % 64);
        const std::uint64_t hz = (rng() >> (20 + rng() % 44)) + 1; // up to ~1.7e13 Hz: exact
        if (vmx::tsc_ticks_to_us(ticks, hz) != ref_muldiv_round(ticks, 1000000, hz)) ++mismatches;
    }
    CHECK(mismatches == 0);
    // Absurd frequencies take the scaled path and stay close.
    const std::uint64_t huge = 1ull << 62;
    CHECK(vmx::tsc_ticks_to_us(huge / 2, huge) == 500000);
}

TEST_CASE("round trip through ticks stays within a microsecond") {
    for (std::uint64_t hz : std::initializer_list<std::uint64_t>{mhz(50), 3500000000, 2112000000, 1 + mhz(1)})
        for (std::uint64_t us : std::initializer_list<std::uint64_t>{1, 999, 1000, 123456, 10000000}) {
            const std::uint64_t back = vmx::tsc_ticks_to_us(vmx::us_to_tsc_ticks(us, hz), hz);
            CHECK(back + 1 >= us);
            CHECK(back <= us + 1);
        }
}

TEST_CASE("Bochs: rate 0, 1 ms at 50 MHz is 50,000, no cap from its leaf 15H") {
    const PreemptionTimerValue v = preemption_timer_value(1000, mhz(50), 0, 2, 0x124);
    CHECK(v.value == 50000);
    CHECK(v.tsc_ticks_requested == 50000);
    CHECK(v.tsc_ticks_programmed == 50000);
    CHECK_FALSE(v.clamped_low);
    CHECK_FALSE(v.clamped_high);
    CHECK_FALSE(v.erratum_capped);
    // The rate really is 0 in Bochs' capability file.
    std::ifstream in(std::string(METRONOME_TESTDATA) + "/vmx-caps/bochs-2.7-corei7_skylake_x.txt");
    std::string line;
    std::uint64_t misc = ~0ull;
    while (std::getline(in, line))
        if (line.rfind("IA32_VMX_MISC=", 0) == 0) misc = std::stoull(line.substr(14), nullptr, 16);
    CHECK((misc & 0x1f) == 0);
}

TEST_CASE("rates 5, 6 and 7 shift and round to nearest") {
    // 1 ms at 3.5 GHz = 3,500,000 ticks.
    const PreemptionTimerValue r5 = preemption_timer_value(1000, 3500000000, 5, 0, 0);
    const PreemptionTimerValue r6 = preemption_timer_value(1000, 3500000000, 6, 0, 0);
    const PreemptionTimerValue r7 = preemption_timer_value(1000, 3500000000, 7, 0, 0);
    CHECK(r5.value == 109375);  // exact
    CHECK(r6.value == 54688);   // 54687.5 -> up
    CHECK(r7.value == 27344);   // 27343.75 -> up
    CHECK(r5.tsc_ticks_programmed == 3500000);
    CHECK(r6.tsc_ticks_programmed == 3500032);
    CHECK(r7.tsc_ticks_programmed == 3500032);
    // 27343.25 rounds down: 3,499,936 ticks at rate 7.
    CHECK(preemption_timer_value(1000, 3499936000, 7, 0, 0).value == 27343);
    // Only IA32_VMX_MISC[4:0] counts.
    CHECK(preemption_timer_value(1000, 3500000000, 0x25, 0, 0).value == 109375);
}

TEST_CASE("programmed slice is within half a timer unit of the request") {
    std::mt19937_64 rng(99);
    int bad = 0;
    for (int i = 0; i < 100000; ++i) {
        const std::uint64_t us = rng() % 5000000 + 1;
        const std::uint64_t hz = rng() % 5000000000ull + 1000000;
        const unsigned rate = static_cast<unsigned>(rng() % 11);
        const PreemptionTimerValue v = preemption_timer_value(us, hz, rate, 0, 0);
        if (v.clamped_low || v.clamped_high) continue;
        const std::uint64_t a = v.tsc_ticks_programmed, b = v.tsc_ticks_requested;
        const std::uint64_t diff = a > b ? a - b : b - a;
        const std::uint64_t half = rate == 0 ? 0 : 1ull << (rate - 1);
        if (diff > half) ++bad;
    }
    CHECK(bad == 0);
}

TEST_CASE("clamping at both ends") {
    // 1 µs at 50 MHz and rate 7: 50 ticks is 0.39 units -> raised to 1.
    const PreemptionTimerValue low = preemption_timer_value(1, mhz(50), 7, 0, 0);
    CHECK(low.value == 1);
    CHECK(low.clamped_low);
    CHECK(low.tsc_ticks_programmed == 128);
    // Zero slice: 0, deliberately (exit before the first guest instruction), no clamp.
    const PreemptionTimerValue zero = preemption_timer_value(0, mhz(50), 7, 0, 0);
    CHECK(zero.value == 0);
    CHECK_FALSE(zero.clamped_low);
    // 10 s at 3.5 GHz, rate 0: 3.5e10 units do not fit in 32 bits.
    const PreemptionTimerValue high = preemption_timer_value(10000000, 3500000000, 0, 0, 0);
    CHECK(high.value == 0xffffffffu);
    CHECK(high.clamped_high);
    CHECK(high.tsc_ticks_requested == 35000000000ull);
    CHECK(high.tsc_ticks_programmed == 0xffffffffull);
    // Saturated ticks at the largest rate still give a 32-bit value.
    const PreemptionTimerValue most = preemption_timer_value(~0ull, ~0ull, 31, 0, 0);
    CHECK(most.value == 0xffffffffu);
    CHECK(most.tsc_ticks_programmed == 0xffffffffull << 31);
}

TEST_CASE("early-expiry erratum: value stays below 2^25 * EBX / EAX") {
    // EAX=2, EBX=166: TSC = 83 x crystal; the cap is 2^25 * 83 = 2,785,017,856, exclusive.
    constexpr std::uint64_t cap = (1ull << 25) * 83;
    const PreemptionTimerValue big = preemption_timer_value(10000000, 3500000000, 0, 2, 166);
    CHECK(big.value == cap - 1);
    CHECK(big.erratum_capped);
    CHECK(big.clamped_high); // it was first cut to 32 bits, then capped
    CHECK(big.tsc_ticks_programmed == cap - 1);
    // Just at and just below the cap.
    const PreemptionTimerValue at = preemption_timer_value(0, 0, 0, 2, 166);
    CHECK(at.value == 0);
    CHECK_FALSE(at.erratum_capped);
    const std::uint64_t hz = mhz(100);
    const PreemptionTimerValue below = preemption_timer_value(27850178, hz, 0, 2, 166);
    CHECK(below.value == 2785017800u);
    CHECK_FALSE(below.erratum_capped);
    // An odd ratio: EAX=3, EBX=250 -> 2^25 * 250 / 3 = 2796202666.67, so 2796202666 is allowed.
    CHECK(preemption_timer_value(10000000, 3500000000, 0, 3, 250).value == 2796202666u);
    // With a rate the cap applies to timer units, not ticks.
    const PreemptionTimerValue r5 = preemption_timer_value(100000000, 3500000000, 5, 2, 166);
    CHECK(r5.value == cap - 1);
    CHECK(r5.tsc_ticks_programmed == (cap - 1) << 5);
    // EAX=0 or EBX=0: leaf 15H says nothing, no cap.
    CHECK_FALSE(preemption_timer_value(10000000, 3500000000, 0, 0, 166).erratum_capped);
    CHECK_FALSE(preemption_timer_value(10000000, 3500000000, 0, 2, 0).erratum_capped);
    CHECK(preemption_timer_value(10000000, 3500000000, 0, 0, 166).value == 0xffffffffu);
}

TEST_CASE("the report line names the numbers and the clamps") {
    vmx::FixedText<200> text;
    vmx::describe_preemption_timer_value(preemption_timer_value(1000, mhz(50), 0, 2, 0x124), 0, text);
    CHECK(std::string(text.c_str()) == "slice = 50000 TSC ticks -> timer 50000 (rate 0) = 50000 ticks");
    text.clear();
    vmx::describe_preemption_timer_value(preemption_timer_value(1, mhz(50), 7, 0, 0), 7, text);
    CHECK(std::string(text.c_str()) ==
          "slice = 50 TSC ticks -> timer 1 (rate 7) = 128 ticks, raised to the minimum of 1");
}
