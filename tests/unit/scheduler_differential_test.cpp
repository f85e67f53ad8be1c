// The O(1) scheduler against the one that scanned every guest (tests/unit/scheduler_oracle.hpp):
// random configurations (policies, slices, tick periods, caps, reserve/reclaim, 1..256 guests)
// driven through random traces (entries, timer exits early and late, trapped and native halts,
// yields, handled exits with root-mode work inside and overruns past the slice, deaths in and out
// of guest mode, idling cut short or overslept, protocol mistakes), both given the same calls.
// After every call the decisions and every book must be the same, to the tick.
#include "tests/unit/scheduler_oracle.hpp"
#include "vmx/sched/scheduler.hpp"
#include "vmx/sched/scheduler_util.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

using vmx::Decision;
using vmx::DecisionKind;
using vmx::ExitCause;
using vmx::GuestParams;
using vmx::Policy;

namespace {

struct Random {
    std::uint64_t state;
    std::uint64_t next() { // splitmix64
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
    bool chance(unsigned percent) { return below(100) < percent; }
};

bool same(const vmx::MinMeanMax& a, const vmx::MinMeanMax& b) {
    return a.count == b.count && a.total == b.total && a.min == b.min && a.max == b.max;
}

bool same_guest(const vmx::GuestStats& a, const vmx::GuestStats& b) {
    for (std::size_t c = 0; c < vmx::kExitCauseCount; ++c)
        if (a.exits[c] != b.exits[c]) return false;
    return a.allotted == b.allotted && a.ran == b.ran && a.hypervisor == b.hypervisor && a.halted == b.halted &&
           a.halted_wall == b.halted_wall && a.halted_observable == b.halted_observable && same(a.slice, b.slice) &&
           a.ticks_due == b.ticks_due && a.ticks_injected == b.ticks_injected &&
           a.ticks_coalesced == b.ticks_coalesced && same(a.tick_latency, b.tick_latency) &&
           a.throttled == b.throttled && a.overruns == b.overruns && a.overrun_ticks == b.overrun_ticks &&
           a.activity == b.activity && a.died_at == b.died_at;
}

bool same_run(const vmx::RunStats& a, const vmx::RunStats& b) {
    return a.start == b.start && a.end == b.end && a.idle == b.idle && a.switching == b.switching &&
           a.idle_on_behalf == b.idle_on_behalf && a.protocol_errors == b.protocol_errors &&
           a.started == b.started && a.finished == b.finished;
}

bool same_timeline(const vmx::Timeline& a, const vmx::Timeline& b) {
    if (a.count() != b.count() || a.dropped() != b.dropped()) return false;
    for (std::size_t i = 0; i < a.count(); ++i) {
        const vmx::Span& x = a.at(i);
        const vmx::Span& y = b.at(i);
        if (x.guest != y.guest || x.kind != y.kind || x.start != y.start || x.end != y.end) return false;
    }
    return true;
}

// Every book of the two schedulers; the first difference fails the test, saying where.
bool books_agree(const vmx::Scheduler& s, const oracle::OracleScheduler& o) {
    bool ok = same_run(s.run_stats(), o.run_stats());
    CHECK_MESSAGE(ok, "run statistics differ");
    ok = ok && s.frame_ticks() == o.frame_ticks() && s.totals_add_up(0) == o.totals_add_up(0) &&
         s.charged_until() == o.charged_until();
    CHECK_MESSAGE(ok, "frame or totals differ");
    for (std::size_t g = 0; g < s.guest_count() && ok; ++g) {
        ok = same_guest(s.guest_stats(g), o.guest_stats(g));
        CHECK_MESSAGE(ok, "guest ", g, "'s statistics differ");
    }
    ok = ok && same_timeline(s.timeline(), o.timeline());
    CHECK_MESSAGE(ok, "the timelines differ");
    return ok;
}

bool same_decision(const Decision& a, const Decision& b) {
    return a.kind == b.kind && a.guest == b.guest && a.timer_deadline == b.timer_deadline &&
           a.idle_until == b.idle_until && a.inject_tick == b.inject_tick &&
           a.resume_halted == b.resume_halted && a.new_slice == b.new_slice;
}

constexpr std::uint64_t kUs = 1000;

// What the traces exercised, over all trials of a test case: each must be seen, or the
// comparison proves less than it claims.
struct Coverage {
    std::uint64_t steps = 0, runs = 0, idles = 0, idles_on_behalf = 0, injections = 0, coalesced = 0;
    std::uint64_t halts = 0, native_halts = 0, yields = 0, handled = 0, deaths = 0, overruns = 0;
    std::uint64_t throttled = 0, protocol_errors = 0, finished_early = 0, timeline_spans = 0;
    std::uint64_t fused = 0, short_switches = 0; // exit_and_next calls, and its short paths
    std::uint64_t short_entries = 0;             // entries by enter_after_short_switch
    std::uint64_t short_native = 0;              // short paths at the exit of a natively halted guest
    std::uint64_t short_handled = 0;             // short paths at a handled exit that reached the slot's end

    void add(const vmx::Scheduler& s) {
        for (std::size_t g = 0; g < s.guest_count(); ++g) {
            const vmx::GuestStats& st = s.guest_stats(g);
            injections += st.ticks_injected;
            coalesced += st.ticks_coalesced;
            halts += st.exits[static_cast<std::size_t>(ExitCause::halted)];
            native_halts += st.exits[static_cast<std::size_t>(ExitCause::halted_native_at_preemption)];
            yields += st.exits[static_cast<std::size_t>(ExitCause::yielded)];
            handled += st.exits[static_cast<std::size_t>(ExitCause::handled)];
            deaths += st.exits[static_cast<std::size_t>(ExitCause::dead)];
            overruns += st.overruns;
            throttled += st.throttled;
        }
        protocol_errors += s.run_stats().protocol_errors;
        short_switches += s.run_stats().short_switches;
        timeline_spans += s.timeline().count();
    }
    void check(bool few_guests) const {
        if (std::getenv("METRONOME_SCHED_VERBOSE") != nullptr) {
            std::printf("steps %llu runs %llu idles %llu (on behalf %llu) injected %llu coalesced %llu halts %llu "
                        "native %llu yields %llu handled %llu deaths %llu overruns %llu throttled %llu "
                        "protocol errors %llu finished early %llu spans %llu fused %llu short %llu (entries %llu, "
                        "natively halted %llu, handled %llu)\n",
                        u(steps), u(runs), u(idles), u(idles_on_behalf), u(injections), u(coalesced), u(halts),
                        u(native_halts), u(yields), u(handled), u(deaths), u(overruns), u(throttled),
                        u(protocol_errors), u(finished_early), u(timeline_spans), u(fused), u(short_switches),
                        u(short_entries), u(short_native), u(short_handled));
        }
        for (std::uint64_t v : {runs, idles, idles_on_behalf, injections, coalesced, halts, native_halts, yields,
                                handled, deaths, overruns, throttled, protocol_errors, timeline_spans, fused,
                                short_switches, short_entries})
            CHECK(v > 0);
        if (few_guests) CHECK(finished_early > 0); // every guest dead, or halted for good, before the end
        // With many guests a halted guest's slot seldom ends without a tick due at the switch.
        if (few_guests) CHECK(short_native > 0);
        if (few_guests) CHECK(short_handled > 0);
    }
    static unsigned long long u(std::uint64_t v) { return v; }
};

struct Trial {
    vmx::SchedParams params{};
    std::vector<GuestParams> guests;
    unsigned deaths_per_mille = 0; // how often a guest dies, per decision
};

Trial random_trial(Random& rng, std::size_t count, Policy policy) {
    Trial t;
    t.params.policy = policy;
    t.params.on_guest_exit = rng.chance(50) ? vmx::OnGuestExit::reserve : vmx::OnGuestExit::reclaim;
    t.params.timeline_ticks = rng.chance(50) ? 0 : rng.below(100) * 1000 * kUs;
    t.deaths_per_mille = static_cast<unsigned>(rng.chance(30) ? 0 : rng.chance(70) ? 1 + rng.below(5) : 10 + rng.below(40));
    const std::uint64_t slice_choice = rng.below(3); // all alike, or a few lengths, or any
    const std::uint64_t common = (10 + rng.below(2000)) * kUs;
    for (std::size_t g = 0; g < count; ++g) {
        GuestParams p{};
        p.slice_ticks = slice_choice == 0 ? common : slice_choice == 1 ? (1 + rng.below(4)) * 250 * kUs
                                                                        : 1 + rng.below(3000 * kUs);
        p.tick_period_ticks = rng.chance(40) ? 0 : rng.chance(10) ? 1 + rng.below(50 * kUs) : (50 + rng.below(20000)) * kUs;
        p.yield_on_hlt = rng.chance(60);
        if (t.params.policy == Policy::capped && rng.chance(70)) {
            p.cap_percent = static_cast<std::uint32_t>(rng.chance(30) ? 1 + rng.below(5) : 1 + rng.below(100));
            // Periods shorter than a slice too: then one overrun can spend a whole period's budget.
            const std::uint64_t kind = rng.below(3);
            p.cap_period_ticks = kind == 0 ? 1 + rng.below(500 * kUs)
                                 : kind == 1 ? p.slice_ticks / 2 + rng.below(2 * p.slice_ticks + 1)
                                             : 1 + rng.below(30000 * kUs);
        }
        t.guests.push_back(p);
    }
    // Some rounds of every guest's slice (the run may end sooner: all dead or halted for good).
    std::uint64_t round = 0;
    for (const GuestParams& p : t.guests) round += p.slice_ticks;
    t.params.duration_ticks = rng.chance(10) ? 0 : (1 + rng.below(40)) * round + rng.below(50000 * kUs);
    return t;
}

// Plays the shell for both schedulers: the same call, with the same arguments, to each.
struct Pair {
    std::unique_ptr<vmx::Scheduler> s = std::make_unique<vmx::Scheduler>();
    std::unique_ptr<oracle::OracleScheduler> o = std::make_unique<oracle::OracleScheduler>();
    bool agree = true; // every decision so far was the same
    bool after_short = false;             // the last call was exit_and_next on its short path
    std::uint64_t entries_after_short = 0; // entries made by enter_after_short_switch
    std::uint64_t native_short = 0;        // short paths taken at a halted_native_at_preemption exit
    std::uint64_t handled_short = 0;       // ... and at a handled exit

    Decision next(std::uint64_t now) {
        after_short = false;
        const Decision a = s->next(now);
        const Decision b = o->next(now);
        if (!same_decision(a, b)) {
            INFO("at ", now, ": kind ", static_cast<int>(a.kind), "/", static_cast<int>(b.kind), ", guest ", a.guest, "/",
                 b.guest, ", deadline ", a.timer_deadline, "/", b.timer_deadline, ", idle until ", a.idle_until, "/",
                 b.idle_until);
            CHECK(false);
            agree = false;
        }
        return a;
    }
    void on_reentry(std::size_t g, std::uint64_t t, bool injected) {
        after_short = false;
        s->on_reentry(g, t, injected);
        o->on_reentry(g, t, injected);
    }
    // The entry of a decision: right after a short switch (nothing else told in between) as the
    // switch below the run loop makes it, enter_after_short_switch; else on_reentry.
    void enter(std::size_t g, std::uint64_t t, bool injected) {
        if (after_short) ++entries_after_short;
        if (after_short) s->enter_after_short_switch(g, t, injected);
        else s->on_reentry(g, t, injected);
        o->on_reentry(g, t, injected);
        after_short = false;
    }
    // The fused call against the oracle's two; short_switch_guest must name the guest of the
    // short path beforehand exactly when it is taken.
    Decision exit_and_next(std::size_t g, std::uint64_t t, ExitCause cause, std::uint64_t root_inside, std::uint64_t now) {
        const std::size_t predicted = s->short_switch_guest(g, t, cause, now);
        const std::uint64_t shorts = s->run_stats().short_switches;
        const Decision a = s->exit_and_next(g, t, cause, root_inside, now);
        after_short = s->run_stats().short_switches != shorts;
        CHECK(after_short == (predicted != vmx::kNoGuest));
        if (after_short && cause == ExitCause::halted_native_at_preemption) ++native_short;
        if (after_short && cause == ExitCause::handled) ++handled_short;
        if (after_short) CHECK(a.guest == predicted);
        o->on_exit(g, t, cause, root_inside);
        const Decision b = o->next(now);
        if (!same_decision(a, b)) {
            INFO("exit_and_next at ", now, ": kind ", static_cast<int>(a.kind), "/", static_cast<int>(b.kind), ", guest ",
                 a.guest, "/", b.guest, ", deadline ", a.timer_deadline, "/", b.timer_deadline);
            CHECK(false);
            agree = false;
        }
        return a;
    }
    void on_exit(std::size_t g, std::uint64_t t, ExitCause cause, std::uint64_t root_inside) {
        after_short = false;
        s->on_exit(g, t, cause, root_inside);
        o->on_exit(g, t, cause, root_inside);
    }
    void set_timer(std::size_t g, std::uint64_t due) {
        after_short = false;
        s->set_timer(g, due);
        o->set_timer(g, due);
    }
    void end(std::uint64_t t) {
        s->end(t);
        o->end(t);
    }
};

ExitCause random_early_cause(Random& rng, const GuestParams& p) {
    const std::uint64_t r = rng.below(100);
    if (r < 45) return ExitCause::handled;
    if (r < 75) return p.yield_on_hlt || rng.chance(5) ? ExitCause::halted : ExitCause::handled; // the latter: an error
    if (r < 90) return ExitCause::yielded;
    return ExitCause::timer; // the shell may report a timer exit before the deadline: harmless
}

// A one-shot timer: soon, later, already past, or none.
std::uint64_t random_timer(Random& rng, std::uint64_t now) {
    const std::uint64_t r = rng.below(10);
    if (r == 0) return vmx::kForever;
    if (r == 1) return now > 5000 ? now - rng.below(5000) : now;
    return now + (r < 6 ? rng.below(200 * kUs) : rng.below(20000 * kUs));
}

// One trace of up to `steps` decisions; false at the first disagreement.
bool run_trace(Random& rng, const Trial& trial, std::size_t steps, Coverage& cov) {
    Pair pair;
    const vmx::InitError e = pair.s->init(trial.params, trial.guests.data(), trial.guests.size());
    REQUIRE(e == pair.o->init(trial.params, trial.guests.data(), trial.guests.size()));
    REQUIRE(e == vmx::InitError::none);
    std::uint64_t now = 1000 + rng.below(1000000);
    const std::size_t n = trial.guests.size();
    // An exit the shell reports together with the next decision (exit_and_next), as the run loop does.
    struct PendingExit {
        bool set = false;
        std::size_t guest = 0;
        std::uint64_t t = 0, root_inside = 0;
        ExitCause cause = ExitCause::timer;
    } pending;
    for (std::size_t step = 0; step < steps; ++step) {
        Decision d;
        if (pending.set) {
            pending.set = false;
            ++cov.fused;
            d = pair.exit_and_next(pending.guest, pending.t, pending.cause, pending.root_inside, now);
        } else {
            d = pair.next(now);
        }
        if (!pair.agree || !books_agree(*pair.s, *pair.o)) return false;
        ++cov.steps;
        if (d.kind == DecisionKind::finished) {
            if (now < pair.s->run_stats().start + trial.params.duration_ticks || trial.params.duration_ticks == 0)
                ++cov.finished_early;
            break;
        }
        if (d.kind == DecisionKind::idle) {
            ++cov.idles;
            if (d.guest != vmx::kNoGuest) ++cov.idles_on_behalf;
            // Usually wakes at or a little after idle_until; sometimes early (a spurious wake-up).
            now = rng.chance(10) && d.idle_until > now + 1 ? now + 1 + rng.below(d.idle_until - now - 1)
                                                          : d.idle_until + rng.below(3) * rng.below(2000);
            continue;
        }
        ++cov.runs;
        const std::size_t g = d.guest;
        const bool dies = rng.below(1000) < trial.deaths_per_mille;
        if (dies && rng.chance(30)) { // VMPTRLD failed: dead without an entry
            pair.on_exit(g, now + rng.below(3000), ExitCause::dead, 0);
            now += rng.below(5000);
            if (!books_agree(*pair.s, *pair.o)) return false;
            continue;
        }
        if (rng.chance(1)) pair.on_reentry((g + 1 + rng.below(n)) % n, now, false); // wrong guest
        if (dies && rng.chance(20)) pair.on_exit(rng.below(n), now, ExitCause::dead, 0); // while another is chosen
        const std::uint64_t entry = now + (rng.chance(1) && now > 500 ? 0 : rng.below(3000));
        const bool injected = d.inject_tick ? rng.chance(80) : rng.chance(1); // the latter: an error
        // A guest without a periodic tick programs its own timer (a Linux guest's APIC): after
        // the expiry it injects, and now and then on an exit; sometimes for no guest that may.
        if (trial.guests[g].tick_period_ticks == 0 && ((injected && rng.chance(70)) || rng.chance(3)))
            pair.set_timer(g, random_timer(rng, now));
        if (rng.chance(1)) pair.set_timer(rng.below(n), random_timer(rng, now));
        pair.enter(g, entry, injected);
        std::uint64_t exit;
        ExitCause cause;
        if (rng.chance(55) || d.timer_deadline <= entry) {
            exit = (d.timer_deadline > entry ? d.timer_deadline : entry) + rng.below(2000);
            cause = d.resume_halted && !injected && rng.chance(70) ? ExitCause::halted_native_at_preemption : ExitCause::timer;
        } else {
            exit = entry + rng.below(d.timer_deadline - entry);
            cause = dies ? ExitCause::dead : random_early_cause(rng, trial.guests[g]);
        }
        if (rng.chance(1) && exit > 10) exit -= 10; // the TSC went backwards
        const std::uint64_t root_inside = rng.chance(30) ? rng.below(exit - entry + 1) : 0;
        if (trial.guests[g].tick_period_ticks == 0 && rng.chance(10)) pair.set_timer(g, random_timer(rng, exit));
        now = exit + rng.below(3000);
        if (rng.chance(50)) {
            pending = PendingExit{true, g, exit, root_inside, cause};
        } else {
            pair.on_exit(g, exit, cause, root_inside);
            if (!books_agree(*pair.s, *pair.o)) return false;
        }
        // Exit handling that outlasts the slice: the guest's overrun, paid from its next slices.
        if (cause == ExitCause::handled && rng.chance(10)) now += rng.below(2 * trial.guests[g].slice_ticks + 1);
    }
    if (pending.set) pair.on_exit(pending.guest, pending.t, pending.cause, pending.root_inside);
    pair.end(now + rng.below(1000));
    if (!books_agree(*pair.s, *pair.o)) return false;
    cov.add(*pair.s);
    cov.short_entries += pair.entries_after_short;
    cov.short_native += pair.native_short;
    cov.short_handled += pair.handled_short;
    CHECK(pair.next(now + 5000).kind == DecisionKind::finished);
    return pair.agree;
}

// `trials` traces, the policies taken in turn, each with min..max guests at random.
void run_trials(std::uint64_t seed, int trials, std::size_t min_guests, std::size_t max_guests, std::size_t steps) {
    Random rng{seed};
    Coverage cov;
    const Policy policies[] = {Policy::fixed, Policy::shared, Policy::capped};
    for (int i = 0; i < trials; ++i) {
        const std::size_t count = min_guests + rng.below(max_guests - min_guests + 1);
        const Trial trial = random_trial(rng, count, policies[i % 3]);
        INFO("seed ", seed, ", trial ", i, ": ", count, " guests, ", vmx::policy_name(trial.params.policy), ", ",
             vmx::on_guest_exit_name(trial.params.on_guest_exit), ", duration ", trial.params.duration_ticks);
        REQUIRE(run_trace(rng, trial, steps, cov));
    }
    cov.check(max_guests <= 8);
}

} // namespace

TEST_CASE("differential: few guests, long traces: the same decisions and books as the scanning scheduler") {
    run_trials(20101202, 300, 1, 8, 4000);
}

TEST_CASE("differential: up to 64 guests") {
    run_trials(64, 60, 9, 64, 6000);
}

TEST_CASE("differential: up to 256 guests") {
    run_trials(256, 12, 65, vmx::max_guests, 8000);
    run_trials(257, 6, vmx::max_guests, vmx::max_guests, 20000);
}
