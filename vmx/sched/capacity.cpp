#include "vmx/sched/capacity.hpp"

namespace vmx {
namespace {

std::uint32_t clamp_u32(std::uint64_t v) {
    return v > 0xffffffffu ? 0xffffffffu : static_cast<std::uint32_t>(v);
}

std::uint32_t policy_code(Policy policy) {
    switch (policy) {
    case Policy::fixed: return capacity_policy::fixed;
    case Policy::shared: return capacity_policy::shared;
    case Policy::capped: return capacity_policy::capped;
    }
    return capacity_policy::unknown;
}

// The scheduler that busy_shares_ppm runs on spinning guests (large: static, not on the stack).
Scheduler g_busy;

// Long enough that the partial round and budget period at its end cost under ~0.5% (1/256 of the
// longer of the two, at most, in the allotted ticks); bounded in steps so that set-up stays short
// whatever the configuration.
constexpr std::uint64_t busy_rounds = 1024;
constexpr std::uint64_t busy_periods = 256;
constexpr std::uint64_t busy_max_steps = 200000;

void simulate_busy(const Scheduler& s, std::uint64_t* out) {
    const std::size_t n = s.guest_count();
    GuestParams params[max_guests];
    std::uint64_t round = 0, period = 0;
    for (std::size_t g = 0; g < n; ++g) {
        params[g] = s.guest_params(g);
        params[g].tick_period_ticks = 0; // busy guests never halt: ticks change nothing
        params[g].yield_on_hlt = false;
        round += params[g].slice_ticks;
        if (params[g].cap_period_ticks > period) period = params[g].cap_period_ticks;
    }
    SchedParams sp = s.params();
    sp.timeline_ticks = 0;
    std::uint64_t horizon = round * busy_rounds > period * busy_periods ? round * busy_rounds : period * busy_periods;
    // Ended at a whole number of (the longest) budget periods, so that a cap is never seen
    // exceeded in a period the run cut short.
    if (period != 0) horizon = (horizon + period - 1) / period * period;
    sp.duration_ticks = horizon;
    if (g_busy.init(sp, params, n) != InitError::none) return;
    std::uint64_t t = 0;
    for (std::uint64_t step = 0; step < busy_max_steps; ++step) {
        const Decision d = g_busy.next(t);
        if (d.kind == DecisionKind::finished) break;
        if (d.kind == DecisionKind::idle) {
            t = d.idle_until;
            continue;
        }
        g_busy.on_reentry(d.guest, t, false);
        t = d.timer_deadline > t ? d.timer_deadline : t + 1; // spins until its timer fires
        g_busy.on_exit(d.guest, t, ExitCause::timer);
    }
    g_busy.end(t);
    for (std::size_t g = 0; g < n; ++g) out[g] = g_busy.allotted_ppm(g);
}

} // namespace

void busy_shares_ppm(const Scheduler& s, std::uint64_t* out) {
    const std::size_t n = s.guest_count();
    for (std::size_t g = 0; g < n; ++g) out[g] = 0;
    if (n == 0) return;
    if (s.params().policy == Policy::capped) {
        simulate_busy(s, out);
        return;
    }
    // fixed: the slots of a frame; shared: the slices of a round. Either way slice / sum.
    std::uint64_t sum = 0;
    for (std::size_t g = 0; g < n; ++g) sum += s.guest_params(g).slice_ticks;
    for (std::size_t g = 0; g < n; ++g) out[g] = ratio_ppm(s.guest_params(g).slice_ticks, sum);
}

GuestCapacity capacity_for(const Scheduler& scheduler, const GuestConfig* const* guests, std::size_t g,
                           std::uint64_t busy_share_ppm) {
    GuestCapacity c;
    if (g >= scheduler.guest_count()) return c;
    const GuestConfig& gc = *guests[g];
    const Policy policy = scheduler.params().policy;
    c.policy = policy_code(policy);
    if (gc.yield_on_hlt) c.flags |= capacity_flag::hlt_yields;
    if (scheduler.params().on_guest_exit == OnGuestExit::reclaim) c.flags |= capacity_flag::reclaim;
    if (policy != Policy::fixed) c.flags |= capacity_flag::work_conserving;
    c.share_ppm = clamp_u32(busy_share_ppm);
    c.guests = static_cast<std::uint32_t>(scheduler.guest_count());
    c.slice_us = gc.slice_us;
    c.slice_ticks = scheduler.guest_params(g).slice_ticks;
    if (policy == Policy::fixed) {
        std::uint64_t frame_us = 0;
        for (std::size_t h = 0; h < scheduler.guest_count(); ++h) {
            frame_us += guests[h]->slice_us;
            c.frame_ticks += scheduler.guest_params(h).slice_ticks;
        }
        c.frame_us = clamp_u32(frame_us);
    }
    if (policy == Policy::capped) {
        c.period_us = gc.period_us;
        c.cap_percent = gc.cap_percent;
    }
    return c;
}

void capacity_leaf(const GuestCapacity& capacity, std::uint32_t leaf, std::uint32_t out[4]) {
    out[0] = out[1] = out[2] = out[3] = 0;
    if (capacity.policy == capacity_policy::unknown) return;
    switch (leaf) {
    case capacity_leaf_first: // what the guest can count on
        out[0] = capacity.share_ppm;
        out[1] = capacity.policy;
        out[2] = capacity.flags;
        out[3] = capacity.guests;
        return;
    case capacity_leaf_first + 1: // lengths in microseconds
        out[0] = capacity.slice_us;
        out[1] = capacity.frame_us;
        out[2] = capacity.period_us;
        out[3] = capacity.cap_percent;
        return;
    case capacity_leaf_last: // the slice and the frame in TSC ticks, low and high halves
        out[0] = static_cast<std::uint32_t>(capacity.slice_ticks);
        out[1] = static_cast<std::uint32_t>(capacity.slice_ticks >> 32);
        out[2] = static_cast<std::uint32_t>(capacity.frame_ticks);
        out[3] = static_cast<std::uint32_t>(capacity.frame_ticks >> 32);
        return;
    default:
        return;
    }
}

} // namespace vmx
