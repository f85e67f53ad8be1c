// The scheduler: which guest owns the one CPU, until when, and where every TSC tick went.
//
// A pure state machine (no instruction that needs ring 0, no heap, no libc, no floating point):
// the privileged shell reads the TSC, enters and leaves guests, and reports each event here; all
// decisions are made here, so that they are unit-tested on the host (README, "Architecture"). The
// policies and what they answer in the 2010 KVM thread are in the README ("Where it comes from"):
//   fixed  — a cyclic frame of slots, one per guest, each its own slice; a slot is the guest's
//            whether or not it has work (Anthony Liguori: "each will get ~25% CPU").
//   shared — round robin over runnable guests, work-conserving like KVM/CFS: a trapped HLT gives
//            the rest of the slice away ("1% 32% 33% 32%").
//   capped — shared, but each guest runs at most cap_percent of every period (Chris Wright's
//            hard caps).
//
// Calling protocol (all times are TSC values from RDTSC, monotonic):
//
//   Scheduler s;                         // constant-initialised: fine as a global
//   s.init(params, guests, count);       // checks the configuration; nothing else happens yet
//   for (;;) {
//       Decision d = s.next(rdtsc());    // the first call starts the run
//       if (d.kind == DecisionKind::finished) break;
//       if (d.kind == DecisionKind::idle) { idle until d.idle_until (hlt + wake-up timer, or
//                                           pause); continue; }
//       // run: make d.guest current (VMPTRLD + its registers/FPU/MSRs if it changed);
//       //   program the preemption timer for d.timer_deadline, rounding UP
//       //   ((deadline - rdtsc) >> IA32_VMX_MISC[4:0], 0 if already past);
//       //   if d.inject_tick: inject the tick vector when RFLAGS.IF = 1 and no STI/MOV-SS
//       //   blocking, else don't (the tick stays pending here; optionally arm interrupt-window
//       //   exiting and report its exit as `handled`);
//       //   activity state: HLT if d.resume_halted and nothing was injected, active otherwise.
//       s.on_reentry(d.guest, rdtsc(), injected);
//       VMRESUME ... VM exit;
//       s.on_exit(d.guest, rdtsc() /* first thing after the exit */, cause);
//       handle the exit (advance RIP past a trapped HLT, emulate CPUID, ...);
//   }
//   s.end(rdtsc());                      // closes the books; stats are final
//
// The shell may report an exit together with the next decision instead (the run loop does):
// exit_and_next(guest, t_exit, cause, root_inside, now) is on_exit then next(now), the same books
// and decision, with a short path for the commonest slice switch.
//
// After a `handled` exit, next() gives the same guest and the same absolute deadline (the slice
// is neither extended nor restarted by exits: the hypervisor's time counts against it), unless a
// virtual tick of that guest became due meanwhile (then it asks for the injection and arms the
// next tick). The time from a handled exit to the next decision is always that guest's
// (`hypervisor`), even where it runs past the end of its slot or slice: then the next guest's
// slot starts when the handling ends and is whole, and the guest that caused it gets that much
// less in its next slot or slice (under `capped` its budget pays instead). Neither the
// neighbour nor `switching` pays for another guest's exits.
//
// Cost: no call looks at every guest. What a decision needs is kept up to date as guests change
// (README, "Architecture"): a timer queue of virtual ticks (TimerHeap, O(log n) per tick due), the
// `fixed` frame and the `shared`/`capped` run queue as bitmaps searched from the last guest on
// (GuestSet: max_guests / 64 words), the halted guests' wake-ups and the spent budgets' next
// periods in two more timer queues, and counts of the living guests and of those that can never
// wake. tests/unit/scheduler_differential_test.cpp checks every decision and every book against
// the scheduler that scanned (tests/unit/scheduler_oracle.hpp).
#pragma once
#include "vmx/lib/guest_limit.hpp" // max_guests
#include "vmx/sched/policy.hpp" // Policy, OnGuestExit: shared with the configuration
#include "vmx/sched/guest_set.hpp"
#include "vmx/sched/scheduler_accounting.hpp"
#include "vmx/sched/scheduler_timeline.hpp"
#include "vmx/sched/scheduler_util.hpp"
#include "vmx/sched/timer_heap.hpp"

#include <cstddef>
#include <cstdint>

namespace vmx {

inline constexpr std::size_t kNoGuest = max_guests;

struct GuestParams {
    std::uint64_t slice_ticks = 0;       // > 0; under `fixed` also the length of its slot
    std::uint64_t tick_period_ticks = 0; // virtual periodic tick; 0 = none
    bool yield_on_hlt = false;           // HLT exiting on: HLT traps (README, "Where it comes from")
    std::uint32_t cap_percent = 0;       // `capped`: 1..100 of each period; 0 = no cap
    std::uint64_t cap_period_ticks = 0;  // `capped` with a cap: > 0
};

struct SchedParams {
    Policy policy = Policy::fixed;
    OnGuestExit on_guest_exit = OnGuestExit::reserve;
    // 0 = until every guest is dead (or halted with no tick to wake it).
    std::uint64_t duration_ticks = 0;
    // Record who had the CPU when for this long from the start (Scheduler::timeline); 0 = off.
    std::uint64_t timeline_ticks = 0;
};

enum class InitError : std::uint8_t {
    none,
    no_guests,
    too_many_guests,
    zero_slice,
    bad_cap_percent,
    zero_cap_period,
};
const char* init_error_text(InitError error);

enum class DecisionKind : std::uint8_t { run, idle, finished };

struct Decision {
    DecisionKind kind = DecisionKind::finished;
    // run: the guest to enter. idle: the guest on whose behalf the CPU idles (`fixed`, trapped
    // HLT), or kNoGuest.
    std::size_t guest = kNoGuest;
    // run: absolute TSC at which the preemption timer must fire = min(end of the slice, next
    // due tick of this guest, end of run); under `capped` the slice ends where the budget runs out.
    std::uint64_t timer_deadline = 0;
    // idle: absolute TSC of the next event (a tick due for a halted guest, slot end, a budget
    // period, end of run); then call next() again. Always later than the `now` given.
    std::uint64_t idle_until = 0;
    // run: a tick of this guest is pending; inject it if the guest can take it (RFLAGS.IF = 1,
    // no STI/MOV-SS blocking) and say so in on_reentry, else it stays pending.
    bool inject_tick = false;
    // run: the guest is halted; enter it in activity state HLT unless a tick was injected.
    bool resume_halted = false;
    // run: the first entry of a new slice (informational).
    bool new_slice = false;
};

class Scheduler {
  public:
    // Checks and takes the configuration (copied). May be called again to start over.
    InitError init(const SchedParams& params, const GuestParams* guests, std::size_t count);

    // What to do at `now`. The first call starts the run.
    Decision next(std::uint64_t now);
    // Right before VM entry of the guest from the last `run` decision. `injected_tick`: the shell
    // injected the pending tick at this entry.
    void on_reentry(std::size_t guest, std::uint64_t t_entry, bool injected_tick);
    // Right after a VM exit (t_exit read first thing on the exit path). `dead` may also be
    // reported for a guest that was never entered (its VMCS could not be made current).
    // `root_inside`: root-mode ticks between the entry and this exit, spent on exits the fast
    // path handled and resumed without a decision (vmx/exits/exit_handler.hpp); they are the
    // guest's `hypervisor` time, the rest of the interval is `ran`.
    void on_exit(std::size_t guest, std::uint64_t t_exit, ExitCause cause, std::uint64_t root_inside = 0);
    // A guest without a periodic tick (tick_period_ticks 0) programs its own timer: its next
    // interrupt falls due at TSC `due` (kForever: none), once. It is a tick like the periodic
    // ones from then on: it ends the guest's slice where it falls inside it, wakes it from a
    // trapped HLT, and is counted due, injected or coalesced, with its latency.
    void set_timer(std::size_t guest, std::uint64_t due);
    // One of the guest's devices (its UART) raised an interrupt that is not its timer: a guest
    // halted by a trapped HLT is runnable again at once, as a pending tick makes it; for any
    // other guest nothing changes (the interrupt is delivered at its next entry).
    void wake(std::size_t guest);
    // on_exit(guest, t_exit, cause, root_inside), then next(now): the same books and the same
    // decision, in one call. The common slice switch — `fixed`, the slot ended at a timer exit,
    // the next slot's guest runnable and no tick due — takes a short path through the same
    // charges; anything else is the two calls (tests/unit/scheduler_differential_test.cpp
    // compares both against the scanning scheduler).
    Decision exit_and_next(std::size_t guest, std::uint64_t t_exit, ExitCause cause, std::uint64_t root_inside,
                           std::uint64_t now);
    // The guest whose slot exit_and_next(guest, t_exit, cause, ..., now) would begin on its short
    // path, or kNoGuest where it would take the general one. Changes nothing: the shell asks first
    // when it can carry out only that switch (vmx/run/run_loop.cpp, switch_below_loop).
    std::size_t short_switch_guest(std::size_t guest, std::uint64_t t_exit, ExitCause cause, std::uint64_t now) const {
        return slot_switch_at_timer(guest, t_exit, cause, now) ? frame_next_[q_.guest] : kNoGuest;
    }
    // exit_and_next's short path itself, for an exit (`timer`, `halted_native_at_preemption` or
    // `handled`) short_switch_guest has just answered with a guest for (nothing has been reported
    // since).
    [[gnu::always_inline]] inline Decision short_switch(std::size_t guest, std::uint64_t t_exit, ExitCause cause,
                                                        std::uint64_t root_inside, std::uint64_t now);
    // on_reentry for the `run` decision short_switch has just made: the plain entry inline, the
    // rest (a tick injected or due by now, a halted guest) through on_reentry.
    void enter_after_short_switch(std::size_t guest, std::uint64_t t_entry, bool injected_tick) {
        if (injected_tick || t_entry < mark_ || ticks_due(t_entry) || stats_[guest].activity != Activity::active ||
            guests_[guest].woken) {
            on_reentry(guest, t_entry, injected_tick);
            return;
        }
        // plain_entry holds: the decision left phase root, owner and entering this guest, no
        // slice begun; `fixed` only; t_entry is read after the decision's `now`.
        book_plain_entry(guest, t_entry);
    }
    // Closes the run at `now`: the open slice ends, halted guests stop counting.
    void end(std::uint64_t now);

    // Every tick before this TSC value is charged somewhere (a guest's books, idle or switching):
    // books read together with it add up to it exactly.
    std::uint64_t charged_until() const { return mark_; }

    // Guest indices passed to the accessors below must be < guest_count().
    std::size_t guest_count() const { return count_; }
    const SchedParams& params() const { return params_; }
    const GuestParams& guest_params(std::size_t g) const { return guests_[g].p; }
    const GuestStats& guest_stats(std::size_t g) const { return stats_[g]; }
    const RunStats& run_stats() const { return run_; }
    const Timeline& timeline() const { return timeline_; }

    // ran / run length, and allotted / run length, in parts per million.
    std::uint64_t share_ppm(std::size_t g) const;
    std::uint64_t allotted_ppm(std::size_t g) const;
    // Global idle / run length.
    std::uint64_t idle_ppm() const;
    // `fixed`: the frame length (sum of the slots, less those reclaimed); else 0.
    std::uint64_t frame_ticks() const { return frame_len_; }

    // sum(allotted) + idle + switching is within `tolerance_ticks` of the run length, and every
    // guest's allotted == ran + hypervisor + halted == its slices' total.
    bool totals_add_up(std::uint64_t tolerance_ticks) const;

  private:
    enum class Phase : std::uint8_t { root, guest, idle };

    // Where a guest waits for its next turn (scheduler_queues.cpp keeps it up to date):
    //   run    — runnable_: it may be given a turn now (`reserve`: a dead guest's turn, idle);
    //   wake   — wakes_: halted (trapped HLT), no tick pending: runnable at its next tick;
    //   never  — halted with no tick to wake it: only counted (never_count_);
    //   refill — refills_: `capped`, budget spent: runnable when its period ends;
    //   none   — dead under `reclaim`: never again.
    enum class Queue : std::uint8_t { none, run, wake, never, refill };

    struct GuestRuntime {
        GuestParams p{};
        Queue queue = Queue::none;
        // Virtual tick: the next tick not yet due, and the one due but not yet injected.
        std::uint64_t next_due = 0;
        bool tick_pending = false;
        std::uint64_t pending_due = 0;
        std::uint64_t halt_since = 0; // trapped HLT: when it halted
        bool woken = false;           // wake(): an interrupt other than its tick ends its HLT
        // Root-mode work for one of its handled exits that ran past the end of its slot or slice:
        // taken off its next one, so the neighbour after it loses nothing.
        std::uint64_t debt = 0;
        // `capped`: budget per period and what was used in the period ending at period_end.
        std::uint64_t budget = 0;
        std::uint64_t used = 0;
        std::uint64_t period_end = 0;
    };

    // The CPU is handed out in quanta: a `fixed` slot, or a `shared`/`capped` slice. A quantum
    // may be idle (dead guest's reserved slot, yielded slot, halted owner under `fixed`).
    struct Quantum {
        std::size_t guest = kNoGuest;
        std::uint64_t end = 0;
        std::uint64_t seq = 0; // identifies the quantum; a guest's slice belongs to one
        bool yielded = false;
    };

    // scheduler.cpp: protocol and accounting.
    void start(std::uint64_t now);
    std::uint64_t sanitize(std::uint64_t t);
    // A tick falls due by t (only ticks due before the end of the run count): advance_ticks has
    // work. Inline, so that a decision without a tick due pays one comparison.
    bool ticks_due(std::uint64_t t) const { return ticks_.top_time() <= (t < run_end_ ? t : run_end_ - 1); }
    void advance_ticks(std::uint64_t t);
    void settle_idle(std::uint64_t now);
    void charge_exit_handling(std::uint64_t now);
    // A quantum of `length` for guest g, less what it owes for earlier overruns (at most all but
    // one tick of it; the rest waits for the next one).
    std::uint64_t debt_due(std::size_t g, std::uint64_t length) const {
        const std::uint64_t debt = guests_[g].debt;
        if (debt == 0 || length <= 1) return 0;
        return debt < length - 1 ? debt : length - 1;
    }
    std::uint64_t pay_debt(std::size_t g, std::uint64_t length) {
        const std::uint64_t pay = debt_due(g, length);
        guests_[g].debt -= pay;
        return length - pay;
    }
    [[gnu::always_inline]] inline void prepare_short_switch();
    // Whether exit_and_next may take its short path (prepare_short_switch made short_until_): the
    // slot of a guest in guest mode, running or natively halted (HLT exiting off), has ended, at
    // the preemption timer's exit with the next slot begun by now, or at a handled exit whose
    // handling reached the slot's end (the next slot then begins when it is done).
    bool slot_switch_at_timer(std::size_t g, std::uint64_t t_exit, ExitCause cause, std::uint64_t now) const {
        const Activity a = stats_[g].activity;
        const bool limit = cause == ExitCause::handled
                               ? short_until_ != 0 && slice_begun_ && q_.guest == g && q_.seq == owner_seq_
                               : (cause == ExitCause::timer || cause == ExitCause::halted_native_at_preemption) &&
                                     now < short_until_;
        return limit && now >= q_.end && g == owner_ && phase_ == Phase::guest && t_exit >= mark_ && now >= t_exit &&
               now < run_end_ && !ticks_due(now) && (a == Activity::active || a == Activity::halted_native);
    }
    bool plain_entry(std::size_t guest, std::uint64_t t_entry, bool injected_tick) const;
    // on_reentry's general case.
    void enter_slow(std::size_t guest, std::uint64_t t_entry, bool injected_tick);
    void charge_owner(std::uint64_t to, std::uint64_t GuestStats::*bucket);
    void charge_guest_mode(std::uint64_t to, std::uint64_t root_inside);
    [[gnu::always_inline]] inline void charge_unowned(std::uint64_t to, std::uint64_t RunStats::*bucket);
    [[gnu::always_inline]] inline void close_slice();
    [[gnu::always_inline]] inline void open_slice(std::size_t g, std::uint64_t at);
    // The books themselves, without the checks of who owns what (the callers have made them):
    // shared by the general path above and the short one (scheduler_short_switch.hpp), so that
    // the two cannot charge differently.
    [[gnu::always_inline]] inline void book_owner(std::size_t g, std::uint64_t to, std::uint64_t GuestStats::*bucket);
    [[gnu::always_inline]] inline void book_guest_mode(std::size_t g, std::uint64_t to, std::uint64_t root_inside);
    [[gnu::always_inline]] inline void book_overrun(std::size_t g, std::uint64_t now, bool into_debt);
    [[gnu::always_inline]] inline void book_plain_entry(std::size_t g, std::uint64_t t_entry);
    Decision decide_run(std::size_t g, std::uint64_t now);
    [[gnu::always_inline]] inline void begin_turn(std::size_t g, std::uint64_t now);
    [[gnu::always_inline]] inline Decision run_decision(std::size_t g, bool new_slice);
    Decision decide_idle(std::size_t on_behalf, std::uint64_t until, std::uint64_t now);
    Decision decide_finished(std::uint64_t now);
    [[gnu::cold]] void died_outside_guest_mode(std::size_t guest, std::uint64_t t, ExitCause cause);

    // scheduler_policy.cpp: who owns the CPU.
    Decision choose(std::uint64_t now);
    void advance_slot(std::uint64_t now);
    // `fixed`: the slot after the current one begins where it ended.
    void next_slot() {
        const std::size_t g = frame_next_[q_.guest];
        q_.guest = g;
        q_.end = sat_add(q_.end, pay_debt(g, guests_[g].p.slice_ticks));
        ++q_.seq;
        q_.yielded = false;
    }
    bool quantum_still_valid(std::uint64_t now) const;
    void pick_round_robin(std::uint64_t now);
    // A guest that executed a trapped HLT waits for its next event, its virtual tick: the
    // "yield" of yield_on_hlt. A pending tick makes it runnable again at once (HLT with an
    // interrupt pending does not block, as in KVM's kvm_vcpu_block); so does a device's (wake()).
    bool blocked(std::size_t g) const {
        return stats_[g].activity == Activity::halted_trapped && !guests_[g].tick_pending && !guests_[g].woken;
    }
    bool alive(std::size_t g) const { return stats_[g].activity != Activity::dead; }
    std::uint64_t budget_left(std::size_t g, std::uint64_t now) const;
    void charge_budget(std::size_t g, std::uint64_t from, std::uint64_t to);
    std::uint64_t next_wake() const;
    void guest_died(std::size_t g, std::uint64_t t);

    // scheduler_queues.cpp: the queues a decision reads instead of scanning the guests.
    void place(std::size_t g, std::uint64_t t);
    void leave_queue(std::size_t g);
    void refill_budgets(std::uint64_t now);

    SchedParams params_{};
    std::size_t count_ = 0;
    GuestRuntime guests_[max_guests]{};
    GuestStats stats_[max_guests]{};
    RunStats run_{};
    Timeline timeline_{};
    std::uint64_t run_end_ = 0;
    std::uint64_t frame_len_ = 0;

    TimerHeap ticks_;   // living guests with a virtual tick, at its next due time
    TimerHeap wakes_;   // Queue::wake, at the next due time of its tick
    TimerHeap refills_; // Queue::refill, at the end of its budget period
    GuestSet runnable_; // Queue::run
    GuestSet frame_;    // `fixed`: the guests that own a slot
    // `fixed`: the guest whose slot follows g's in the frame, for every g < count_ (a guest that
    // left the frame still has a successor; g itself when it is the only slot, or none when the
    // frame is empty). Kept as the frame changes (frame_changed), so a slot boundary is one load.
    static_assert(max_guests <= 0xffff, "frame_next_ holds guest indices in 16 bits");
    std::uint16_t frame_next_[max_guests]{};
    void frame_changed();
    std::size_t alive_count_ = 0;
    std::size_t never_count_ = 0; // Queue::never

    Phase phase_ = Phase::root;
    std::uint64_t mark_ = 0; // every tick before `mark_` is charged somewhere
    Quantum q_{};
    std::size_t rr_last_ = kNoGuest; // round robin: the guest picked last

    // The open slice: its guest, the quantum it belongs to, whether it has begun (first entry
    // or idling on its behalf) and when; `slice_last_` = its end so far.
    std::size_t owner_ = kNoGuest;
    std::uint64_t owner_seq_ = 0;
    bool slice_begun_ = false;
    std::uint64_t slice_start_ = 0;
    std::uint64_t slice_last_ = 0;
    // The last exit was `handled`: until the next decision the hypervisor works for its guest.
    bool handled_exit_ = false;
    // The last `run` decision, awaiting on_reentry.
    std::size_t entering_ = kNoGuest;
    bool entering_inject_ = false;
    // Idle phase: on whose behalf, and the latest time that may be charged to it (slot end).
    std::size_t idle_for_ = kNoGuest;
    std::uint64_t idle_bound_ = 0;
    // prepare_short_switch: exit_and_next may begin the next slot on its short path while the
    // time is before this (0: it may not).
    std::uint64_t short_until_ = 0;
};

} // namespace vmx

#include "vmx/sched/scheduler_short_switch.hpp" // NOLINT: the inline definitions of the short path
