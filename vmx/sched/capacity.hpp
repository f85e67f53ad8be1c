// The capacity a guest can expect, as the hypervisor CPUID leaves 0x40000001..0x40000003 tell it
// (README, "Where it comes from": Anthony Liguori's "the expected capacity is communicated to the guest").
// The layout is stated in guest/ABI.md, section "CPUID"; this is the one place that encodes it.
#pragma once
#include <cstddef>
#include <cstdint>

#include "vmx/config/config.hpp"
#include "vmx/run/vcpu.hpp"
#include "vmx/sched/scheduler.hpp"

namespace vmx {

inline constexpr std::uint32_t capacity_leaf_first = 0x40000001u;
inline constexpr std::uint32_t capacity_leaf_last = 0x40000003u;

namespace capacity_policy {
inline constexpr std::uint32_t unknown = 0;
inline constexpr std::uint32_t fixed = 1;
inline constexpr std::uint32_t shared = 2;
inline constexpr std::uint32_t capped = 3;
} // namespace capacity_policy

namespace capacity_flag {
inline constexpr std::uint32_t hlt_yields = 1u << 0;      // yield_on_hlt = 1: HLT traps
inline constexpr std::uint32_t reclaim = 1u << 1;         // on_guest_exit = reclaim
inline constexpr std::uint32_t work_conserving = 1u << 2; // idle time goes to others (shared, capped)
} // namespace capacity_flag

// What each guest gets of the CPU when every guest is alive and busy all the time (never halts,
// never exits), in parts per million, under the policy and lengths `scheduler` (initialised, not
// started) will run (guest/ABI.md section 9 states the rule):
//   fixed:  its slot / the frame;
//   shared: its slice / the sum of the slices (round robin gives each its slice every round);
//   capped: what the scheduler itself allots to spinning guests: it is run, without switching
//           costs, over many rounds and budget periods, since how caps, periods and slices
//           interact under round robin has no simple closed form.
// `out` gets scheduler.guest_count() values.
void busy_shares_ppm(const Scheduler& scheduler, std::uint64_t* out);

// Guest g's capacity as `scheduler` (its CPU's) will run it, with its busy share from
// busy_shares_ppm; `guests[h]` is the configuration of the scheduler's guest h.
// `scheduler.guest_params(g)` gives the lengths in TSC ticks.
GuestCapacity capacity_for(const Scheduler& scheduler, const GuestConfig* const* guests, std::size_t g,
                           std::uint64_t busy_share_ppm);

// EAX, EBX, ECX, EDX of a capacity leaf (capacity_leaf_first..capacity_leaf_last); zero for any
// other leaf, and for every leaf when the capacity is not known (policy 0).
void capacity_leaf(const GuestCapacity& capacity, std::uint32_t leaf, std::uint32_t out[4]);

} // namespace vmx
