// The scheduler's protocol with the shell and its accounting: every tick between two reported
// times is charged to exactly one bucket (see scheduler_accounting.hpp). Which guest owns the
// CPU is decided in scheduler_policy.cpp.
#include "vmx/sched/scheduler.hpp"

#include "vmx/sched/scheduler_util.hpp"

namespace vmx {

std::uint64_t Scheduler::sanitize(std::uint64_t t) {
    if (t >= mark_) return t;
    ++run_.protocol_errors; // the TSC went backwards or a stale time was passed
    return mark_;
}

void Scheduler::advance_ticks(std::uint64_t t) {
    // Only ticks due before the end of the run count: one due at the end could not be delivered.
    if (t >= run_end_) t = run_end_ - 1;
    // The timer queue holds exactly the living guests with a tick to come: only those due now
    // are looked at.
    while (!ticks_.empty() && ticks_.top_time() <= t) {
        const std::size_t g = ticks_.top();
        GuestRuntime& r = guests_[g];
        const std::uint64_t period = r.p.tick_period_ticks;
        // Periodic: the ticks due in (last, t]; a one-shot timer (set_timer) is one.
        const std::uint64_t n = period == 0 ? 1 : (t - r.next_due) / period + 1;
        GuestStats& s = stats_[g];
        s.ticks_due += n;
        // At most one pending tick per guest, like a real interrupt controller's request bit:
        // the later ones are coalesced (dropped) and counted so the report can say so.
        const bool was_pending = r.tick_pending;
        if (was_pending) {
            s.ticks_coalesced += n;
        } else {
            r.tick_pending = true;
            r.pending_due = r.next_due;
            s.ticks_coalesced += n - 1;
        }
        r.next_due = period == 0 ? kForever : sat_add(r.next_due, n * period);
        if (r.next_due == kForever) {
            ticks_.erase(g);
        } else {
            ticks_.set(g, r.next_due);
        }
        if (!was_pending && s.activity == Activity::halted_trapped) place(g, t); // it was halted: runnable now
    }
}

void Scheduler::set_timer(std::size_t g, std::uint64_t due) {
    if (g >= count_ || guests_[g].p.tick_period_ticks != 0) {
        ++run_.protocol_errors; // one-shot timers are for guests without a periodic tick
        return;
    }
    guests_[g].next_due = due;
    if (!alive(g)) return; // its timer can never fire
    if (due == kForever) {
        ticks_.erase(g);
    } else {
        ticks_.set(g, due);
    }
    place(g, mark_); // a halted guest now wakes at `due`, or never
}

void Scheduler::wake(std::size_t g) {
    if (g >= count_ || !alive(g) || stats_[g].activity != Activity::halted_trapped) return;
    guests_[g].woken = true;
    place(g, mark_);
}

void Scheduler::charge_owner(std::uint64_t to, std::uint64_t GuestStats::*bucket) {
    if (to <= mark_ || owner_ == kNoGuest) return;
    if (bucket == &GuestStats::halted) run_.idle_on_behalf += to - mark_;
    if (params_.policy == Policy::capped) charge_budget(owner_, mark_, to);
    book_owner(owner_, to, bucket);
}

// Guest mode up to `to`, except `root_inside` ticks of it that went to exits the fast path
// handled: those are the hypervisor's work for the guest.
void Scheduler::charge_guest_mode(std::uint64_t to, std::uint64_t root_inside) {
    if (to <= mark_ || owner_ == kNoGuest) return;
    if (params_.policy == Policy::capped) charge_budget(owner_, mark_, to);
    book_guest_mode(owner_, to, root_inside);
}

void Scheduler::settle_idle(std::uint64_t now) {
    if (phase_ != Phase::idle) return;
    // Idling on a guest's behalf counts as its `halted` time only up to its slot's end; a late
    // wake-up beyond it is nobody's.
    if (idle_for_ != kNoGuest && owner_ == idle_for_ && slice_begun_)
        charge_owner(now < idle_bound_ ? now : idle_bound_, &GuestStats::halted);
    charge_unowned(now, &RunStats::idle);
    phase_ = Phase::root;
    idle_for_ = kNoGuest;
}

// The hypervisor's work for a handled exit is the guest's, up to the decision that follows it.
// Past the end of the guest's slot (or slice) it is an overrun: the current quantum ends where
// the work did, so the next one is whole, and the overrun becomes the guest's debt.
void Scheduler::charge_exit_handling(std::uint64_t now) {
    if (!handled_exit_) return;
    handled_exit_ = false;
    if (owner_ == kNoGuest || !slice_begun_ || !alive(owner_)) return;
    charge_owner(now, &GuestStats::hypervisor);
    if (q_.guest != owner_ || q_.seq != owner_seq_ || now <= q_.end) return;
    book_overrun(owner_, now, params_.policy != Policy::capped); // capped: the budget pays
}

Decision Scheduler::next(std::uint64_t now) {
    if (!run_.started) start(now);
    Decision d;
    if (run_.finished) return d;
    now = sanitize(now);
    if (phase_ == Phase::guest) {
        // No on_exit for the last entry: count it and treat the gap as guest time.
        ++run_.protocol_errors;
        charge_owner(now, &GuestStats::ran);
        phase_ = Phase::root;
    }
    entering_ = kNoGuest;
    if (ticks_due(now)) advance_ticks(now);
    if (phase_ == Phase::idle) settle_idle(now);
    if (handled_exit_) charge_exit_handling(now);
    d = choose(now);
    run_.end = mark_;
    return d;
}

// Flattened: the short path is one function with no calls, and the general one (on_exit, next)
// costs no more than the two calls would.
[[gnu::flatten]] Decision Scheduler::exit_and_next(std::size_t guest, std::uint64_t t_exit, ExitCause cause,
                                                   std::uint64_t root_inside, std::uint64_t now) {
    if (!slot_switch_at_timer(guest, t_exit, cause, now)) {
        on_exit(guest, t_exit, cause, root_inside);
        return next(now);
    }
    return short_switch(guest, t_exit, cause, root_inside, now);
}

Decision Scheduler::decide_run(std::size_t g, std::uint64_t now) {
    const bool continues = owner_ == g && owner_seq_ == q_.seq && slice_begun_;
    if (continues) {
        charge_owner(now, &GuestStats::hypervisor); // exit handling inside the slice
    } else {
        begin_turn(g, now);
    }
    return run_decision(g, !continues);
}

Decision Scheduler::decide_idle(std::size_t on_behalf, std::uint64_t until, std::uint64_t now) {
    if (on_behalf != kNoGuest) {
        const bool continues = owner_ == on_behalf && owner_seq_ == q_.seq && slice_begun_;
        if (continues) {
            charge_owner(now, &GuestStats::hypervisor);
        } else {
            close_slice();
            charge_unowned(now, &RunStats::switching);
            open_slice(on_behalf, now); // the slot is its own even while nobody is in guest mode
        }
    } else {
        close_slice();
        charge_unowned(now, &RunStats::switching);
    }
    if (until > run_end_) until = run_end_;
    if (until <= now) until = now + 1; // never ask the shell to idle into the past
    phase_ = Phase::idle;
    idle_for_ = on_behalf;
    idle_bound_ = q_.end;
    Decision d;
    d.kind = DecisionKind::idle;
    d.guest = on_behalf;
    d.idle_until = until;
    return d;
}

Decision Scheduler::decide_finished(std::uint64_t now) {
    close_slice();
    charge_unowned(now, &RunStats::switching);
    phase_ = Phase::root;
    return Decision{};
}

// The entry that begins a slice of an active guest outside `capped`, nothing injected, no tick due
// by it: on_reentry only charges the switching and opens the slice.
bool Scheduler::plain_entry(std::size_t guest, std::uint64_t t_entry, bool injected_tick) const {
    return !injected_tick && phase_ == Phase::root && guest == entering_ && guest == owner_ && !slice_begun_ &&
           !run_.finished && t_entry >= mark_ && params_.policy != Policy::capped && !ticks_due(t_entry) &&
           stats_[guest].activity == Activity::active && !guests_[guest].woken;
}

[[gnu::flatten]] void Scheduler::on_reentry(std::size_t guest, std::uint64_t t_entry, bool injected_tick) {
    if (!plain_entry(guest, t_entry, injected_tick)) {
        enter_slow(guest, t_entry, injected_tick);
        return;
    }
    book_plain_entry(guest, t_entry);
}

void Scheduler::enter_slow(std::size_t guest, std::uint64_t t_entry, bool injected_tick) {
    if (!run_.started || run_.finished || phase_ != Phase::root || guest >= count_ ||
        guest != entering_) {
        ++run_.protocol_errors; // not the guest of the last `run` decision: ignored
        return;
    }
    t_entry = sanitize(t_entry);
    if (ticks_due(t_entry)) advance_ticks(t_entry);
    if (owner_ == guest && slice_begun_) {
        charge_owner(t_entry, &GuestStats::hypervisor);
    } else {
        // Loading the guest is a switching cost; under `capped` it is paid from the guest's
        // budget (its quantum started at the decision).
        const std::uint64_t decided = mark_;
        charge_unowned(t_entry, &RunStats::switching);
        if (params_.policy == Policy::capped) charge_budget(guest, decided, t_entry);
        open_slice(guest, t_entry);
    }
    GuestRuntime& r = guests_[guest];
    GuestStats& s = stats_[guest];
    const Activity before = s.activity;
    if (injected_tick) {
        if (!r.tick_pending || !entering_inject_) {
            ++run_.protocol_errors; // nothing was asked to be injected
        } else {
            r.tick_pending = false;
            ++s.ticks_injected;
            s.tick_latency.add(t_entry - r.pending_due);
            if (s.activity == Activity::halted_trapped) s.halted_wall += t_entry - r.halt_since;
            s.activity = Activity::active; // the interrupt wakes a halted guest
        }
    } else if (s.activity == Activity::halted_trapped && r.woken) {
        s.halted_wall += t_entry - r.halt_since;
        s.activity = Activity::active; // a device's interrupt wakes it (wake())
    } else if (s.activity == Activity::halted_trapped) {
        // Its tick could not be injected (interrupts off in HLT): it goes back in activity
        // state HLT, where its halted time is no longer observable.
        s.halted_wall += t_entry - r.halt_since;
        s.activity = Activity::halted_native;
        s.halted_observable = false;
    }
    r.woken = false;
    if (s.activity != before) place(guest, t_entry); // only its activity can move it here
    entering_ = kNoGuest;
    phase_ = Phase::guest;
    run_.end = mark_;
}

void Scheduler::on_exit(std::size_t guest, std::uint64_t t_exit, ExitCause cause, std::uint64_t root_inside) {
    if (!run_.started || run_.finished || guest >= count_) {
        ++run_.protocol_errors;
        return;
    }
    if (phase_ != Phase::guest || guest != owner_) {
        died_outside_guest_mode(guest, t_exit, cause);
        return;
    }
    t_exit = sanitize(t_exit);
    charge_guest_mode(t_exit, root_inside);
    phase_ = Phase::root;
    GuestStats& s = stats_[guest];
    const Activity before = s.activity;
    const auto index = static_cast<std::size_t>(cause);
    if (index < kExitCauseCount) ++s.exits[index];
    switch (cause) {
    case ExitCause::timer:
        s.activity = Activity::active; // it was not in HLT, or the shell would have said so
        break;
    case ExitCause::halted:
        if (!guests_[guest].p.yield_on_hlt) ++run_.protocol_errors; // HLT exiting is off
        s.activity = Activity::halted_trapped;
        guests_[guest].halt_since = t_exit;
        break;
    case ExitCause::halted_native_at_preemption:
        s.activity = Activity::halted_native;
        s.halted_observable = false;
        break;
    case ExitCause::yielded:
        s.activity = Activity::active;
        if (q_.guest == guest) q_.yielded = true;
        break;
    case ExitCause::handled:
        handled_exit_ = true; // an exit in HLT state (NMI, external interrupt) leaves it halted
        break;
    case ExitCause::dead:
        guest_died(guest, t_exit);
        break;
    }
    if (cause != ExitCause::dead && s.activity != before) place(guest, t_exit); // a halt, or its end
    run_.end = mark_;
}

// Outside guest mode only a death can be reported: the shell gives up on a guest it could not
// make current (VMPTRLD failed). No time was spent in guest mode.
void Scheduler::died_outside_guest_mode(std::size_t guest, std::uint64_t t, ExitCause cause) {
    if (cause != ExitCause::dead || phase_ == Phase::guest || !alive(guest)) {
        ++run_.protocol_errors;
        return;
    }
    t = sanitize(t);
    ++stats_[guest].exits[static_cast<std::size_t>(ExitCause::dead)];
    if (entering_ == guest) entering_ = kNoGuest;
    guest_died(guest, t);
    run_.end = mark_;
}

void Scheduler::end(std::uint64_t now) {
    if (!run_.started) start(now);
    if (run_.finished) return;
    now = sanitize(now);
    if (phase_ == Phase::guest) {
        ++run_.protocol_errors; // ended while a guest was in guest mode
        charge_owner(now, &GuestStats::ran);
        phase_ = Phase::root;
    }
    advance_ticks(now);
    settle_idle(now);
    decide_finished(now);
    for (std::size_t g = 0; g < count_; ++g) {
        if (stats_[g].activity != Activity::halted_trapped) continue;
        stats_[g].halted_wall += now - guests_[g].halt_since;
        guests_[g].halt_since = now;
    }
    run_.end = mark_;
    run_.finished = true;
}

std::uint64_t Scheduler::share_ppm(std::size_t g) const {
    return ratio_ppm(stats_[g].ran, run_.length());
}

std::uint64_t Scheduler::allotted_ppm(std::size_t g) const {
    return ratio_ppm(stats_[g].allotted, run_.length());
}

std::uint64_t Scheduler::idle_ppm() const {
    return ratio_ppm(run_.idle, run_.length());
}

bool Scheduler::totals_add_up(std::uint64_t tolerance_ticks) const {
    std::uint64_t sum = run_.idle + run_.switching;
    for (std::size_t g = 0; g < count_; ++g) {
        const GuestStats& s = stats_[g];
        if (s.allotted != s.ran + s.hypervisor + s.halted) return false;
        std::uint64_t slices = s.slice.total;
        if (g == owner_ && slice_begun_) slices += slice_last_ - slice_start_;
        if (s.allotted != slices) return false;
        sum += s.allotted;
    }
    const std::uint64_t length = mark_ - run_.start;
    const std::uint64_t diff = sum > length ? sum - length : length - sum;
    return diff <= tolerance_ticks;
}

} // namespace vmx
