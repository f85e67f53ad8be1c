// The queues the scheduler's decisions read instead of looking at every guest
// (vmx/sched/scheduler.hpp, "Cost"). Each guest is in exactly one place, recomputed whenever
// something it depends on changes: its activity (exits, entries, death), a pending tick, its
// budget. Decisions then take the first runnable guest after the last one picked, or the
// earliest wake-up, from them.
#include "vmx/sched/scheduler.hpp"

#include "vmx/sched/scheduler_util.hpp"

namespace vmx {

void Scheduler::leave_queue(std::size_t g) {
    switch (guests_[g].queue) {
    case Queue::run: runnable_.erase(g); break;
    case Queue::wake: wakes_.erase(g); break;
    case Queue::never: --never_count_; break;
    case Queue::refill: refills_.erase(g); break;
    case Queue::none: break;
    }
    guests_[g].queue = Queue::none;
}

// Where g waits as of time t (nothing before t may be asked of it again: times only go forward).
// A budget spent at t whose period has already ended by then is whole again: runnable.
void Scheduler::place(std::size_t g, std::uint64_t t) {
    GuestRuntime& r = guests_[g];
    Queue q = Queue::run;
    if (!alive(g)) {
        q = params_.on_guest_exit == OnGuestExit::reserve ? Queue::run : Queue::none;
    } else if (blocked(g)) {
        q = r.next_due == kForever ? Queue::never : Queue::wake;
    } else if (r.budget != 0 && r.used >= r.budget && t < r.period_end) {
        q = Queue::refill;
    }
    if (q == r.queue) {
        // Its period may have moved (a charge past its end), or its timer (set_timer).
        if (q == Queue::refill) refills_.set(g, r.period_end);
        if (q == Queue::wake) wakes_.set(g, r.next_due);
        return;
    }
    leave_queue(g);
    r.queue = q;
    switch (q) {
    case Queue::run: runnable_.insert(g); break;
    case Queue::wake: wakes_.set(g, r.next_due); break;
    case Queue::never: ++never_count_; break;
    case Queue::refill: refills_.set(g, r.period_end); break;
    case Queue::none: break;
    }
}

// Budgets whose period has ended by `now` are whole again (a new period starts with nothing
// used): their guests go back on the run queue.
void Scheduler::refill_budgets(std::uint64_t now) {
    while (!refills_.empty() && refills_.top_time() <= now) {
        const std::size_t g = refills_.top();
        refills_.erase(g);
        guests_[g].queue = Queue::run;
        runnable_.insert(g);
    }
}

} // namespace vmx
