// The scheduler as it was before its decisions were made O(1) (vmx/sched/scheduler.cpp at commit
// 5086f05: a scan over every guest per decision), kept word for word as the oracle of the
// differential test (tests/unit/scheduler_differential_test.cpp): the new scheduler must take
// the same decisions and keep the same books, to the tick, on any trace. Host only; its types
// (parameters, decisions, statistics) are the real scheduler's.
#pragma once
#include "vmx/sched/scheduler.hpp"

#include <cstddef>
#include <cstdint>

namespace oracle {

using vmx::Activity;
using vmx::Decision;
using vmx::DecisionKind;
using vmx::ExitCause;
using vmx::kExitCauseCount;
using vmx::GuestParams;
using vmx::GuestStats;
using vmx::InitError;
using vmx::kNoGuest;
using vmx::OnGuestExit;
using vmx::Policy;
using vmx::RunStats;
using vmx::SchedParams;
using vmx::SpanKind;
using vmx::Timeline;

class OracleScheduler {
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

    struct GuestRuntime {
        GuestParams p{};
        bool in_frame = false; // `fixed`: still owns a slot
        // Virtual tick: the next tick not yet due, and the one due but not yet injected.
        std::uint64_t next_due = 0;
        bool tick_pending = false;
        std::uint64_t pending_due = 0;
        std::uint64_t halt_since = 0; // trapped HLT: when it halted
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

    // scheduler_oracle.cpp: protocol and accounting.
    void start(std::uint64_t now);
    std::uint64_t sanitize(std::uint64_t t);
    void advance_ticks(std::uint64_t t);
    void settle_idle(std::uint64_t now);
    void charge_exit_handling(std::uint64_t now);
    std::uint64_t pay_debt(std::size_t g, std::uint64_t length);
    void charge_owner(std::uint64_t to, std::uint64_t GuestStats::*bucket);
    void charge_guest_mode(std::uint64_t to, std::uint64_t root_inside);
    void charge_unowned(std::uint64_t to, std::uint64_t RunStats::*bucket);
    void close_slice();
    void open_slice(std::size_t g, std::uint64_t at);
    Decision decide_run(std::size_t g, std::uint64_t now);
    Decision decide_idle(std::size_t on_behalf, std::uint64_t until, std::uint64_t now);
    Decision decide_finished(std::uint64_t now);

    // scheduler_oracle_policy.cpp: who owns the CPU.
    Decision choose(std::uint64_t now);
    void advance_slot(std::uint64_t now);
    bool quantum_still_valid(std::uint64_t now) const;
    void pick_round_robin(std::uint64_t now);
    bool eligible(std::size_t g, std::uint64_t now) const;
    bool blocked(std::size_t g) const;
    bool alive(std::size_t g) const { return stats_[g].activity != Activity::dead; }
    std::uint64_t budget_left(std::size_t g, std::uint64_t now) const;
    void charge_budget(std::size_t g, std::uint64_t from, std::uint64_t to);
    std::uint64_t next_wake(std::uint64_t now) const;
    std::size_t next_in_frame(std::size_t g) const;
    void guest_died(std::size_t g, std::uint64_t t);

    SchedParams params_{};
    std::size_t count_ = 0;
    GuestRuntime guests_[vmx::max_guests]{};
    GuestStats stats_[vmx::max_guests]{};
    RunStats run_{};
    Timeline timeline_{};
    std::uint64_t run_end_ = 0;
    std::uint64_t frame_len_ = 0;

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
};

} // namespace oracle
