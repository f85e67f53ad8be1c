// The scheduler's short path, inline: the commonest slice switch (`fixed`, the slot of a guest in
// guest mode ends, its successor plainly runnable) is compiled into its callers, exit_and_next
// and the shell's switch below the run loop (vmx/run/run_loop.cpp), with no call. The books it
// shares with the general path (scheduler.cpp) are defined here too, inline, so that both charge
// through the same code. Included by scheduler.hpp only.
#pragma once

namespace vmx {

// `fixed`, at a decision to run: whether the slot after this one may be begun by exit_and_next's
// short path, and until when (short_until_; 0: not): its end, less the debt its guest will pay
// from it. Its guest must be alive and not blocked (next() has charged any exit handling first).
// Until the guest decided on leaves guest mode only a death can undo this (guest_died clears it;
// a tick or wake-up only unblocks), and the rest is checked at the exit (slot_switch_at_timer):
// the guest in guest mode, running or natively halted, no tick due, and either a preemption-timer
// exit with the slot over by then and the next not yet (its slice is at most the frame, so no
// whole frame is skipped), or a handled exit whose handling reached the slot's end.
inline void Scheduler::prepare_short_switch() {
    short_until_ = 0;
    if (params_.policy != Policy::fixed || frame_len_ == 0) return;
    const std::size_t h = frame_next_[q_.guest];
    if (!alive(h) || blocked(h)) return;
    const std::uint64_t slice = guests_[h].p.slice_ticks;
    short_until_ = sat_add(q_.end, slice - debt_due(h, slice));
}

inline void Scheduler::charge_unowned(std::uint64_t to, std::uint64_t RunStats::*bucket) {
    if (to <= mark_) return;
    run_.*bucket += to - mark_;
    if (bucket == &RunStats::idle) timeline_.add(0, SpanKind::idle, mark_, to);
    mark_ = to;
}

inline void Scheduler::close_slice() {
    if (owner_ != kNoGuest && slice_begun_) stats_[owner_].slice.add(slice_last_ - slice_start_);
    owner_ = kNoGuest;
    slice_begun_ = false;
}

inline void Scheduler::open_slice(std::size_t g, std::uint64_t at) {
    owner_ = g;
    owner_seq_ = q_.seq;
    slice_begun_ = true;
    slice_start_ = slice_last_ = at;
}

// A new quantum is g's: the slice before it is closed, the time since is switching, and g's slice
// begins at its first entry.
inline void Scheduler::begin_turn(std::size_t g, std::uint64_t now) {
    close_slice();
    charge_unowned(now, &RunStats::switching);
    owner_ = g;
    owner_seq_ = q_.seq;
    slice_begun_ = false;
}

// g, the owner, had the CPU from mark_ up to `to` (> mark_): its `bucket` (ran, hypervisor or
// halted) and its slice so far.
inline void Scheduler::book_owner(std::size_t g, std::uint64_t to, std::uint64_t GuestStats::*bucket) {
    const std::uint64_t d = to - mark_;
    GuestStats& s = stats_[g];
    s.*bucket += d;
    s.allotted += d;
    timeline_.add(g, bucket == &GuestStats::halted ? SpanKind::halted : SpanKind::running, mark_, to);
    slice_last_ = to;
    mark_ = to;
}

// Guest mode of g, the owner, from mark_ up to `to` (> mark_), less `root_inside` ticks of exits
// the fast path handled: those are the hypervisor's work for it.
inline void Scheduler::book_guest_mode(std::size_t g, std::uint64_t to, std::uint64_t root_inside) {
    const std::uint64_t d = to - mark_;
    const std::uint64_t inside = root_inside < d ? root_inside : d;
    GuestStats& s = stats_[g];
    s.ran += d - inside;
    s.hypervisor += inside;
    s.allotted += d;
    timeline_.add(g, SpanKind::running, mark_, to);
    slice_last_ = to;
    mark_ = to;
}

// g's handled exit ran on to `now`, past its slot's end (q_.end < now, its own slot): the overrun
// is counted, the slot ends where the handling did, and unless a budget pays instead (`capped`)
// g owes it back from its next slot or slice.
inline void Scheduler::book_overrun(std::size_t g, std::uint64_t now, bool into_debt) {
    const std::uint64_t overrun = now - q_.end;
    ++stats_[g].overruns;
    stats_[g].overrun_ticks += overrun;
    if (into_debt) guests_[g].debt += overrun;
    q_.end = now;
}

// The entry that begins g's slice (plain_entry holds): the time since the decision was switching.
inline void Scheduler::book_plain_entry(std::size_t g, std::uint64_t t_entry) {
    charge_unowned(t_entry, &RunStats::switching);
    open_slice(g, t_entry);
    entering_ = kNoGuest;
    phase_ = Phase::guest;
    run_.end = mark_;
}

inline Decision Scheduler::run_decision(std::size_t g, bool new_slice) {
    const GuestRuntime& r = guests_[g];
    Decision d;
    d.kind = DecisionKind::run;
    d.guest = g;
    std::uint64_t deadline = q_.end < run_end_ ? q_.end : run_end_;
    if (r.next_due < deadline) deadline = r.next_due; // deliver the next tick on time
    d.timer_deadline = deadline;
    d.inject_tick = r.tick_pending;
    const Activity a = stats_[g].activity;
    d.resume_halted = a == Activity::halted_trapped || a == Activity::halted_native;
    d.new_slice = new_slice;
    entering_ = g;
    entering_inject_ = r.tick_pending;
    phase_ = Phase::root;
    run_.end = mark_;
    prepare_short_switch();
    return d;
}

// What on_exit and next would do here, with what slot_switch_at_timer established taken as
// known: `fixed` (no budget), the guest owns the CPU in guest mode with its slice begun, running
// or natively halted, and mark_ <= t_exit <= now.
inline Decision Scheduler::short_switch(std::size_t guest, std::uint64_t t_exit, ExitCause cause,
                                       std::uint64_t root_inside, std::uint64_t now) {
    ++run_.short_switches;
    // on_exit: guest mode up to the exit, less the exits the fast path handled; one exit of `cause`.
    GuestStats& s = stats_[guest];
    if (t_exit > mark_) book_guest_mode(guest, t_exit, root_inside);
    ++s.exits[static_cast<std::size_t>(cause)];
    // It was running (`timer`), or sat in HLT inside guest mode (not a halt the hypervisor saw).
    // Either way it stays where it waits (on_exit's place() would change nothing): under `fixed`
    // a living guest not halted by a trapped HLT is on the run queue. A handled exit leaves it as
    // it was.
    if (cause == ExitCause::timer) {
        s.activity = Activity::active;
    } else if (cause == ExitCause::halted_native_at_preemption) {
        s.activity = Activity::halted_native;
        s.halted_observable = false;
    } else {
        // charge_exit_handling: the exit's handling up to now is the guest's; what of it ran past
        // its slot's end is an overrun, the slot ends where the handling did, and the guest pays
        // the overrun back from its next slot.
        if (now > mark_) book_owner(guest, now, &GuestStats::hypervisor);
        if (now > q_.end) book_overrun(guest, now, true);
    }
    // next: the slice closed, the time since the exit is switching, the next slot (its guest pays
    // what it owes from it) and its guest's turn.
    // (begin_turn with what is known: the guest owns the slice, so close_slice is one add to its
    // own statistics, and now >= mark_.)
    if (slice_begun_) s.slice.add(slice_last_ - slice_start_);
    run_.switching += now - mark_;
    mark_ = now;
    next_slot();
    owner_ = q_.guest;
    owner_seq_ = q_.seq;
    slice_begun_ = false;
    return run_decision(q_.guest, true);
}

} // namespace vmx
