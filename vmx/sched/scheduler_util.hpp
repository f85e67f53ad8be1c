// Small integer helpers shared by the scheduler's translation units. 64-bit only: no 128-bit
// arithmetic (libgcc is not linked into metronome.efi).
#pragma once
#include <cstdint>
#include <limits>

namespace vmx {

// "Never": a time no run reaches (584 years at 1 GHz).
inline constexpr std::uint64_t kForever = std::numeric_limits<std::uint64_t>::max();

constexpr std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) {
    return a > kForever - b ? kForever : a + b;
}

constexpr std::uint64_t min_u64(std::uint64_t a, std::uint64_t b) {
    return a < b ? a : b;
}

static_assert(sat_add(kForever - 1, 2) == kForever);
static_assert(sat_add(1, 2) == 3);

} // namespace vmx
