// A discrete-event simulator of one CPU, a shell and simulated guests, driving vmx::Scheduler
// exactly as the privileged shell does (see the protocol in vmx/sched/scheduler.hpp): next(), the
// switch or entry cost, on_reentry() with the injection verdict (RFLAGS.IF), guest mode until
// the preemption timer fires at the deadline or the guest exits by itself, on_exit(), the exit
// handling cost, next() again. Idle decisions are slept through to idle_until (+ a wake-up
// latency). Host only: it uses std::vector.
//
// Times are TSC ticks; the constants below read them as a 1 GHz TSC.
#pragma once
#include "vmx/sched/scheduler.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <vector>

namespace schedsim {

inline constexpr std::uint64_t kNever = std::numeric_limits<std::uint64_t>::max();
inline constexpr std::uint64_t kUs = 1000;
inline constexpr std::uint64_t kMs = 1000 * kUs;
inline constexpr std::uint64_t kS = 1000 * kMs;

enum class Workload {
    spin,      // never halts, never exits by itself
    idle,      // on each tick taken: `work` ticks of work, then HLT
    bursty,    // like idle, but every `burst_every`-th tick starts `burst` ticks of work
    exitstorm, // spins, with an exit every `storm_every` guest ticks costing `storm_cost`
};

struct Behaviour {
    Workload kind = Workload::spin;
    std::uint64_t boot_work = 0; // idle/bursty: work before the first HLT
    std::uint64_t work = 0;
    std::uint64_t burst = 0;
    std::uint64_t burst_every = 1;
    std::uint64_t storm_every = 0;
    std::uint64_t storm_cost = 0;
    std::uint64_t dies_at = kNever;  // crash / powerdown: a `dead` exit once it runs at or after
    std::uint64_t cli_from = kNever; // RFLAGS.IF = 0 during [cli_from, cli_until)
    std::uint64_t cli_until = 0;
};

struct GuestSpec {
    vmx::GuestParams params;
    Behaviour behaviour;
};

struct Costs {
    std::uint64_t exit = 400;       // root-mode exit handling before next()
    std::uint64_t entry = 300;      // next() -> VM entry of the same guest
    std::uint64_t switch_in = 2000; // next() -> VM entry of another guest (VMPTRLD, xrstor, MSRs)
    std::uint64_t wake = 0;         // an idle shell wakes this long after idle_until
};

// What the simulated guest really did: the truth the scheduler's accounting is checked against.
struct GuestTruth {
    std::uint64_t ran = 0;                 // guest mode
    std::uint64_t worked = 0;              // guest mode, not halted
    std::uint64_t native_halted = 0;       // guest mode in activity state HLT
    std::uint64_t trapped_halted_wall = 0; // trapped HLT -> the entry that woke it / the end
    std::uint64_t ticks_taken = 0;
    std::uint64_t exits = 0;
};

struct IdleSpan {
    std::uint64_t from;
    std::uint64_t to;
    std::size_t on_behalf;
};

struct RunRecord {
    std::uint64_t now;
    std::uint64_t entry;
    std::uint64_t exit;
    std::size_t guest;
    std::uint64_t deadline;
    bool inject;
    bool injected;
    bool resume_halted;
    bool new_slice;
    vmx::ExitCause cause;
};

class Sim {
  public:
    Sim(const vmx::SchedParams& params, const std::vector<GuestSpec>& guests, Costs costs = {})
        : specs_(guests), costs_(costs), models_(guests.size()) {
        truth.resize(guests.size());
        std::vector<vmx::GuestParams> p;
        for (const GuestSpec& g : guests)
            p.push_back(g.params);
        init_error = sched.init(params, p.data(), p.size());
        for (std::size_t i = 0; i < guests.size(); ++i) {
            models_[i].work_left = guests[i].behaviour.boot_work;
        }
    }

    // Runs until the scheduler says `finished`; false if it got stuck or broke the protocol.
    bool run(std::uint64_t start = 1000, std::uint64_t max_steps = 20000000) {
        if (init_error != vmx::InitError::none) return false;
        t0 = start;
        std::uint64_t now = start;
        std::size_t loaded = vmx::kNoGuest;
        for (std::uint64_t step = 0; step < max_steps; ++step) {
            const vmx::Decision d = sched.next(now);
            if (d.kind == vmx::DecisionKind::finished) {
                sched.end(now);
                t_end = now;
                for (std::size_t g = 0; g < models_.size(); ++g) {
                    const Model& m = models_[g];
                    if (m.halted && specs_[g].params.yield_on_hlt && !m.dead)
                        truth[g].trapped_halted_wall += now - m.halt_since;
                }
                return sched.run_stats().protocol_errors == 0;
            }
            if (d.kind == vmx::DecisionKind::idle) {
                if (d.idle_until <= now) return false;
                idle.push_back({now, d.idle_until + costs_.wake, d.guest});
                now = d.idle_until + costs_.wake;
                continue;
            }
            const std::size_t g = d.guest;
            const std::uint64_t entry = now + (g == loaded ? costs_.entry : costs_.switch_in);
            loaded = g;
            const Behaviour& b = specs_[g].behaviour;
            const bool interrupts_on = !(b.cli_from <= entry && entry < b.cli_until);
            const bool injected = d.inject_tick && interrupts_on;
            sched.on_reentry(g, entry, injected);
            enter(g, entry, injected);
            vmx::ExitCause cause = vmx::ExitCause::timer;
            const std::uint64_t exit = run_guest(g, entry, d.timer_deadline, cause);
            sched.on_exit(g, exit, cause);
            ++truth[g].exits;
            if (record_runs) {
                runs.push_back({now, entry, exit, g, d.timer_deadline, d.inject_tick, injected,
                                d.resume_halted, d.new_slice, cause});
            }
            now = exit + costs_.exit;
            if (cause == vmx::ExitCause::handled) now += b.storm_cost;
        }
        return false;
    }

    vmx::Scheduler sched;
    vmx::InitError init_error = vmx::InitError::none;
    std::uint64_t t0 = 0;
    std::uint64_t t_end = 0;
    bool record_runs = false;
    std::vector<GuestTruth> truth;
    std::vector<IdleSpan> idle;
    std::vector<RunRecord> runs;

  private:
    struct Model {
        bool halted = false; // in HLT (trapped: outside guest mode; native: inside)
        bool dead = false;
        std::uint64_t work_left = 0;
        std::uint64_t storm_acc = 0;
        std::uint64_t halt_since = 0;
    };

    void enter(std::size_t g, std::uint64_t entry, bool injected) {
        Model& m = models_[g];
        if (!injected) return; // a halted guest without an interrupt stays in HLT
        const Behaviour& b = specs_[g].behaviour;
        if (m.halted && specs_[g].params.yield_on_hlt) {
            truth[g].trapped_halted_wall += entry - m.halt_since;
        }
        m.halted = false;
        ++truth[g].ticks_taken;
        if (b.kind == Workload::idle) m.work_left += b.work;
        if (b.kind == Workload::bursty) {
            m.work_left += truth[g].ticks_taken % b.burst_every == 0 ? b.burst : b.work;
        }
    }

    // Guest mode from `entry` until the timer fires at `deadline` or the guest exits itself.
    std::uint64_t run_guest(std::size_t g, std::uint64_t entry, std::uint64_t deadline,
                            vmx::ExitCause& cause) {
        Model& m = models_[g];
        const Behaviour& b = specs_[g].behaviour;
        GuestTruth& t = truth[g];
        std::uint64_t now = entry;
        for (;;) {
            if (deadline <= now) { // a timer value of 0 exits before the first instruction
                cause =
                    m.halted ? vmx::ExitCause::halted_native_at_preemption : vmx::ExitCause::timer;
                break;
            }
            if (m.halted) { // native HLT: sits there until the timer fires
                t.native_halted += deadline - now;
                now = deadline;
                continue;
            }
            const bool works_then_halts = b.kind == Workload::idle || b.kind == Workload::bursty;
            const std::uint64_t die =
                b.dies_at == kNever ? kNever : (b.dies_at > now ? b.dies_at : now);
            const std::uint64_t done = works_then_halts ? now + m.work_left : kNever;
            const std::uint64_t storm =
                b.kind == Workload::exitstorm ? now + (b.storm_every - m.storm_acc) : kNever;
            std::uint64_t next = deadline;
            if (die < next) next = die;
            if (storm < next) next = storm;
            if (done < next) next = done;
            t.worked += next - now;
            if (works_then_halts) m.work_left -= next - now;
            if (b.kind == Workload::exitstorm) m.storm_acc += next - now;
            now = next;
            if (now == die) {
                m.dead = true;
                cause = vmx::ExitCause::dead;
                break;
            }
            if (now == deadline) continue; // the timer exit, above
            if (now == storm) {
                m.storm_acc = 0;
                cause = vmx::ExitCause::handled;
                break;
            }
            // Work done: HLT. Trapped with yield_on_hlt, else the guest halts in guest mode.
            m.halted = true;
            if (specs_[g].params.yield_on_hlt) {
                m.halt_since = now;
                cause = vmx::ExitCause::halted;
                break;
            }
        }
        t.ran += now - entry;
        return now;
    }

    std::vector<GuestSpec> specs_;
    Costs costs_;
    std::vector<Model> models_;
};

// Guest builders for the thread's experiments (README, "Scheduling policies").
inline GuestSpec spinner(std::uint64_t slice = kMs, bool yield_on_hlt = false) {
    GuestSpec s{};
    s.params.slice_ticks = slice;
    s.params.yield_on_hlt = yield_on_hlt;
    return s;
}

// A mostly idle guest: a virtual tick at `tick_hz`, `work` ticks of work per tick, then HLT.
inline GuestSpec idler(std::uint64_t tick_hz, std::uint64_t work, bool yield_on_hlt,
                       std::uint64_t slice = kMs) {
    GuestSpec s{};
    s.params.slice_ticks = slice;
    s.params.tick_period_ticks = kS / tick_hz;
    s.params.yield_on_hlt = yield_on_hlt;
    s.behaviour.kind = Workload::idle;
    s.behaviour.work = work;
    return s;
}

inline vmx::SchedParams params(vmx::Policy policy, std::uint64_t duration,
                               vmx::OnGuestExit on_exit = vmx::OnGuestExit::reserve) {
    vmx::SchedParams p{};
    p.policy = policy;
    p.on_guest_exit = on_exit;
    p.duration_ticks = duration;
    return p;
}

// Overlap of [a, b) with [c, d).
inline std::uint64_t overlap(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t d) {
    const std::uint64_t lo = a > c ? a : c;
    const std::uint64_t hi = b < d ? b : d;
    return hi > lo ? hi - lo : 0;
}

// Prints the measured shares of a run when METRONOME_SCHED_VERBOSE is set (to read the numbers
// an experiment produced; the assertions do not depend on it).
inline void print_shares(const Sim& sim, const char* label) {
    if (std::getenv("METRONOME_SCHED_VERBOSE") == nullptr) return;
    const vmx::Scheduler& s = sim.sched;
    std::printf("%-58s", label);
    for (std::size_t g = 0; g < s.guest_count(); ++g) {
        const vmx::GuestStats& st = s.guest_stats(g);
        std::printf(" g%zu ran %6.3f%% allot %6.3f%%", g, static_cast<double>(s.share_ppm(g)) / 1e4,
                    static_cast<double>(s.allotted_ppm(g)) / 1e4);
        if (st.halted != 0) {
            std::printf(" halted %6.3f%%",
                        static_cast<double>(vmx::ratio_ppm(st.halted, s.run_stats().length())) /
                            1e4);
        }
        std::printf(" |");
    }
    std::printf(" idle %6.3f%%\n", static_cast<double>(s.idle_ppm()) / 1e4);
}

// The books of any simulated run: every tick accounted exactly once, the scheduler's guest-mode
// time and injections equal to what the simulated guests really did, ticks conserved.
inline void check_books(const Sim& sim) {
    const vmx::Scheduler& s = sim.sched;
    const vmx::RunStats& run = s.run_stats();
    CHECK(run.finished);
    CHECK(run.protocol_errors == 0);
    CHECK(run.length() == sim.t_end - sim.t0);
    CHECK(s.totals_add_up(0));
    for (std::size_t g = 0; g < s.guest_count(); ++g) {
        INFO("guest " << g);
        const vmx::GuestStats& st = s.guest_stats(g);
        const GuestTruth& t = sim.truth[g];
        CHECK(st.ran == t.ran);
        CHECK(st.ticks_injected == t.ticks_taken);
        CHECK(st.ticks_injected + st.ticks_coalesced <= st.ticks_due);
        CHECK(st.ticks_due <= st.ticks_injected + st.ticks_coalesced + 1);
        std::uint64_t exits = 0;
        for (std::uint64_t e : st.exits)
            exits += e;
        CHECK(exits == t.exits);
        if (st.halted_observable) CHECK(st.halted_wall == t.trapped_halted_wall);
        if (!s.guest_params(g).yield_on_hlt) CHECK_FALSE(st.halted_observable);
        if (st.slice.count != 0) {
            CHECK(st.slice.min <= st.slice.mean());
            CHECK(st.slice.mean() <= st.slice.max);
        }
    }
}

} // namespace schedsim

// Checks an integer is within `tol` of `expected`; both bounds print their values on failure.
#define SCHED_CHECK_NEAR(actual, expected, tol)                                                    \
    do {                                                                                           \
        const std::uint64_t sched_actual_ = (actual);                                              \
        CHECK(sched_actual_ + (tol) >= (expected));                                                \
        CHECK(sched_actual_ <= (expected) + (tol));                                                \
    } while (0)
