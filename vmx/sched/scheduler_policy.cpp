// Who owns the CPU next: the three policies of the README's "Where it comes from". Accounting and the protocol with
// the shell are in scheduler.cpp; this file only moves quanta (slots or slices) around.
#include "vmx/sched/scheduler.hpp"

#include "vmx/sched/scheduler_util.hpp"

namespace vmx {

namespace {

// Moves a `capped` budget period forward so that `t` falls inside it. A new period starts with
// nothing used: budgets do not carry over (README, "Where it comes from": "a budget per period").
void roll_period(std::uint64_t& period_end, std::uint64_t& used, std::uint64_t period,
                 std::uint64_t t) {
    if (t < period_end) return;
    const std::uint64_t k = (t - period_end) / period + 1;
    period_end = sat_add(period_end, k * period);
    used = 0;
}

// Adds the possession time [from, to) to a budget, split at period boundaries; only the part in
// the last period touched matters, so a long stretch costs no loop.
void add_usage(std::uint64_t& period_end, std::uint64_t& used, std::uint64_t period,
               std::uint64_t from, std::uint64_t to) {
    if (from >= to) return;
    roll_period(period_end, used, period, from);
    if (to <= period_end) {
        used += to - from;
        return;
    }
    roll_period(period_end, used, period, to - 1);
    used = to - (period_end - period); // from < the start of that period
}

} // namespace

void Scheduler::charge_budget(std::size_t g, std::uint64_t from, std::uint64_t to) {
    GuestRuntime& r = guests_[g];
    if (r.budget == 0) return;
    add_usage(r.period_end, r.used, r.p.cap_period_ticks, from, to);
    place(g, to); // a spent budget takes it off the run queue until its period ends
}

// Budget left at `now`. The budget counts a guest's quanta from the decision on: switching in,
// guest mode and exit handling inside them, so the hypervisor's work for a guest is paid from
// that guest's cap and a quantum cut at the budget uses it up exactly.
std::uint64_t Scheduler::budget_left(std::size_t g, std::uint64_t now) const {
    const GuestRuntime& r = guests_[g];
    if (params_.policy != Policy::capped || r.budget == 0) return kForever;
    std::uint64_t period_end = r.period_end;
    std::uint64_t used = r.used;
    roll_period(period_end, used, r.p.cap_period_ticks, now);
    return used < r.budget ? r.budget - used : 0;
}

bool Scheduler::quantum_still_valid(std::uint64_t now) const {
    const std::size_t g = q_.guest;
    if (g == kNoGuest || now >= q_.end) return false;
    if (!alive(g)) return params_.on_guest_exit == OnGuestExit::reserve;
    return !q_.yielded && !blocked(g);
}

// Round robin in guest order: the first guest after the one picked last that may run now — a
// runnable guest, or under `reserve` a dead guest's turn, spent idle (Srivatsa Vaddagiri's "dummy
// VM to consume 25%", without the dummy VM; Avi Kivity's crash case). The run queue holds exactly
// those once the budgets whose period has ended are back in it (refill_budgets).
void Scheduler::pick_round_robin(std::uint64_t now) {
    ++q_.seq;
    q_.yielded = false;
    const std::size_t first = rr_last_ == kNoGuest ? 0 : (rr_last_ + 1) % count_;
    const std::size_t g = runnable_.next_cyclic(first);
    if (g == GuestSet::none) {
        q_.guest = kNoGuest;
        q_.end = now;
        return;
    }
    q_.guest = g;
    // `capped`: the quantum ends where the budget does, decided now, so that exits inside it never
    // move the deadline.
    const std::uint64_t slice = guests_[g].p.slice_ticks;
    const std::uint64_t left = budget_left(g, now);
    if (left < slice) ++stats_[g].throttled;
    q_.end = sat_add(now, left < slice ? left : pay_debt(g, slice));
    rr_last_ = g;
}

// The next time something may become runnable while nothing is (every living guest is halted
// or has spent its budget): a halted guest's tick, or the end of a spent budget's period.
std::uint64_t Scheduler::next_wake() const {
    return min_u64(run_end_, min_u64(wakes_.top_time(), refills_.top_time()));
}

// The successors from the frame's bitmap: once at the start and once per guest that leaves it.
void Scheduler::frame_changed() {
    for (std::size_t g = 0; g < count_; ++g) {
        const std::size_t h = frame_.next_cyclic(g + 1 == count_ ? 0 : g + 1);
        frame_next_[g] = static_cast<std::uint16_t>(h == GuestSet::none ? g : h);
    }
}

// `fixed`: slots follow each other in guest order, back to back from the start of the run,
// whatever happens inside them. A shell that comes back late finds the slot that is current
// now; the ones it missed are skipped, never made up for.
void Scheduler::advance_slot(std::uint64_t now) {
    if (frame_len_ == 0) return;
    while (now >= q_.end) {
        if (frame_.contains(q_.guest) && now - q_.end >= frame_len_)
            q_.end += (now - q_.end) / frame_len_ * frame_len_; // whole frames missed
        next_slot();
    }
}

void Scheduler::guest_died(std::size_t g, std::uint64_t t) {
    GuestRuntime& r = guests_[g];
    short_until_ = 0; // the frame, or the next slot's guest, may be what died
    if (alive(g)) --alive_count_;
    stats_[g].activity = Activity::dead;
    stats_[g].died_at = t;
    r.tick_pending = false;
    ticks_.erase(g);
    place(g, t);
    if (params_.policy == Policy::fixed && params_.on_guest_exit == OnGuestExit::reclaim &&
        frame_.contains(g)) {
        // `reclaim`: the slot leaves the frame and the next one starts now, so the others'
        // shares rise to 1/(N-1) ("suddenly the others get 33% each" — Avi Kivity).
        frame_.erase(g);
        frame_changed();
        frame_len_ -= r.p.slice_ticks;
        if (q_.guest == g) q_.end = t;
    }
}

Decision Scheduler::choose(std::uint64_t now) {
    // The run ends at its duration, or when no guest can ever run again: all dead, or every one
    // left halted with no tick to wake it.
    if (now >= run_end_ || alive_count_ == 0 || (run_end_ == kForever && never_count_ == alive_count_))
        return decide_finished(now);

    if (params_.policy == Policy::fixed) {
        advance_slot(now);
        const std::size_t g = q_.guest;
        if (!alive(g) || q_.yielded) return decide_idle(kNoGuest, q_.end, now);
        // Trapped HLT under `fixed`: keep the slot and idle on the guest's behalf until the slot
        // ends or its next tick — Marcelo Tosatti's "consume the timeslice outside guest mode",
        // with its halted time measured exactly.
        if (blocked(g)) return decide_idle(g, min_u64(q_.end, guests_[g].next_due), now);
        return decide_run(g, now);
    }

    if (!quantum_still_valid(now)) {
        refill_budgets(now);
        pick_round_robin(now);
    }
    const std::size_t g = q_.guest;
    if (g == kNoGuest) {
        const std::uint64_t wake = next_wake();
        if (wake == kForever) return decide_finished(now);
        return decide_idle(kNoGuest, wake, now);
    }
    if (!alive(g)) return decide_idle(kNoGuest, q_.end, now); // a reserved turn
    return decide_run(g, now);
}

} // namespace vmx
