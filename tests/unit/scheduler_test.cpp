// The scheduler's protocol with the shell, tick delivery and accounting details, driven by hand
// (Driver) or through the simulator where a longer run is needed.
#include "vmx/sched/scheduler.hpp"

#include "tests/unit/scheduler_sim.hpp"
#include "vmx/sched/capacity.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace schedsim;
using vmx::Activity;
using vmx::Decision;
using vmx::DecisionKind;
using vmx::ExitCause;
using vmx::GuestParams;
using vmx::Policy;
using vmx::Scheduler;

namespace {

constexpr std::size_t cause_index(ExitCause c) {
    return static_cast<std::size_t>(c);
}

GuestParams guest(std::uint64_t slice, std::uint64_t tick = 0, bool yield_on_hlt = false) {
    GuestParams p{};
    p.slice_ticks = slice;
    p.tick_period_ticks = tick;
    p.yield_on_hlt = yield_on_hlt;
    return p;
}

// Plays the shell by hand: one call per protocol step.
struct Driver {
    Scheduler s;
    Decision d;

    Driver(Policy policy, std::vector<GuestParams> guests, std::uint64_t duration = 0) {
        REQUIRE(s.init(params(policy, duration), guests.data(), guests.size()) ==
                vmx::InitError::none);
    }
    Decision next(std::uint64_t now) { return d = s.next(now); }
    // Enters d.guest at `entry` and leaves it at `exit` for `cause`.
    void run(std::uint64_t entry, std::uint64_t exit, ExitCause cause, bool injected = false) {
        REQUIRE(d.kind == DecisionKind::run);
        s.on_reentry(d.guest, entry, injected);
        s.on_exit(d.guest, exit, cause);
    }
};

constinit Scheduler g_global_scheduler; // the shell keeps one in .bss: no constructor to run

} // namespace

TEST_CASE("init rejects configurations it cannot schedule, with a message") {
    Scheduler s;
    std::vector<GuestParams> one = {guest(kMs)};
    CHECK(s.init(params(Policy::fixed, kS), one.data(), 0) == vmx::InitError::no_guests);
    std::vector<GuestParams> many(vmx::max_guests + 1, guest(kMs)); // 257
    CHECK(s.init(params(Policy::fixed, kS), many.data(), many.size()) ==
          vmx::InitError::too_many_guests);
    std::vector<GuestParams> zero = {guest(kMs), guest(0)};
    CHECK(s.init(params(Policy::shared, kS), zero.data(), 2) == vmx::InitError::zero_slice);
    std::vector<GuestParams> capped = {guest(kMs)};
    capped[0].cap_percent = 101;
    capped[0].cap_period_ticks = 10 * kMs;
    CHECK(s.init(params(Policy::capped, kS), capped.data(), 1) == vmx::InitError::bad_cap_percent);
    CHECK(s.init(params(Policy::shared, kS), capped.data(), 1) == vmx::InitError::none); // ignored
    capped[0].cap_percent = 25;
    capped[0].cap_period_ticks = 0;
    CHECK(s.init(params(Policy::capped, kS), capped.data(), 1) == vmx::InitError::zero_cap_period);
    CHECK(std::string(vmx::init_error_text(vmx::InitError::zero_slice)) ==
          "a guest has a zero slice");
    CHECK(std::string(vmx::init_error_text(vmx::InitError::too_many_guests)) == "more than 256 guests");
    // A rejected configuration leaves the previous one in place.
    CHECK(g_global_scheduler.init(params(Policy::fixed, kS), many.data(), 256) ==
          vmx::InitError::none);
    CHECK(g_global_scheduler.guest_count() == 256);
}

TEST_CASE("fixed: the first decision runs guest 0 until its slot ends, then guest 1") {
    Driver dr(Policy::fixed, {guest(kMs), guest(2 * kMs)}, kS);
    Decision d = dr.next(1000);
    CHECK(d.kind == DecisionKind::run);
    CHECK(d.guest == 0);
    CHECK(d.timer_deadline == 1000 + kMs);
    CHECK(d.new_slice);
    CHECK_FALSE(d.inject_tick);
    CHECK_FALSE(d.resume_halted);
    dr.run(1500, 1000 + kMs, ExitCause::timer);
    d = dr.next(1000 + kMs + 400);
    CHECK(d.guest == 1);
    CHECK(d.timer_deadline == 1000 + 3 * kMs);
    CHECK(dr.s.frame_ticks() == 3 * kMs);
    // Slot 0's slice: first entry to last exit.
    CHECK(dr.s.guest_stats(0).slice.count == 1);
    CHECK(dr.s.guest_stats(0).slice.total == kMs - 500);
    CHECK(dr.s.run_stats().switching == 500 + 400);
    CHECK(dr.s.totals_add_up(0));
}

TEST_CASE("handled exits neither extend nor restart a slice: the deadline stays put") {
    std::vector<GuestSpec> guests = {spinner(), spinner()};
    guests[0].behaviour.kind = Workload::exitstorm;
    guests[0].behaviour.storm_every = 37 * kUs;
    guests[0].behaviour.storm_cost = 3 * kUs;
    for (Policy policy : {Policy::fixed, Policy::shared}) {
        INFO(vmx::policy_name(policy));
        Sim sim(params(policy, 100 * kMs), guests);
        sim.record_runs = true;
        REQUIRE(sim.run());
        check_books(sim);
        std::size_t checked = 0;
        for (std::size_t i = 1; i < sim.runs.size(); ++i) {
            const RunRecord& prev = sim.runs[i - 1];
            const RunRecord& r = sim.runs[i];
            // Handling that outlasts the slice ends it; otherwise the slice goes on unchanged.
            if (prev.cause != ExitCause::handled || r.now >= prev.deadline) continue;
            REQUIRE(r.guest == prev.guest);
            CHECK_FALSE(r.new_slice);
            CHECK(r.deadline == prev.deadline);
            ++checked;
        }
        CHECK(checked > 1000);
        // As many slices as the calm neighbour, each no longer than the configured slice plus
        // one exit's handling (an exit handled across the slice end is the storm's: it pays for
        // it in its next slice).
        const vmx::GuestStats& storm = sim.sched.guest_stats(0);
        const vmx::GuestStats& calm = sim.sched.guest_stats(1);
        CHECK(storm.slice.count + 1 >= calm.slice.count);
        CHECK(storm.slice.count <= calm.slice.count + 1);
        CHECK(storm.slice.max <= kMs + guests[0].behaviour.storm_cost + Costs{}.exit);
        CHECK(calm.slice.max <= kMs);
        CHECK(storm.exits[cause_index(ExitCause::handled)] > 1000);
    }
}

TEST_CASE("a tick due inside a slice is delivered on time: the timer is armed for it") {
    Costs costs;
    std::vector<GuestSpec> guests = {spinner(10 * kMs)};
    guests[0].params.tick_period_ticks = kMs;
    Sim sim(params(Policy::fixed, 100 * kMs), guests, costs);
    sim.record_runs = true;
    REQUIRE(sim.run());
    check_books(sim);
    for (const RunRecord& r : sim.runs) {
        const std::uint64_t next_tick = sim.t0 + ((r.now - sim.t0) / kMs + 1) * kMs;
        const std::uint64_t slot_end = sim.t0 + ((r.now - sim.t0) / (10 * kMs) + 1) * 10 * kMs;
        CHECK(r.deadline == (next_tick < slot_end ? next_tick : slot_end));
    }
    const vmx::GuestStats& st = sim.sched.guest_stats(0);
    CHECK(st.ticks_due == 99); // the one due at the very end of the run is not counted
    CHECK(st.ticks_injected == 99);
    CHECK(st.ticks_coalesced == 0);
    // Due at the timer exit; injected at the next entry: only the exit and entry costs between.
    CHECK(st.tick_latency.min == costs.exit + costs.entry);
    CHECK(st.tick_latency.max <= costs.exit + costs.switch_in);
}

TEST_CASE("ticks due outside a guest's slot wait for it; inside it they are on time") {
    std::vector<GuestSpec> guests = {spinner(2 * kMs), spinner(2 * kMs)};
    guests[0].params.tick_period_ticks = kMs; // half its ticks fall in guest 1's slot
    Sim sim(params(Policy::fixed, 200 * kMs), guests);
    REQUIRE(sim.run());
    check_books(sim);
    const vmx::GuestStats& st = sim.sched.guest_stats(0);
    CHECK(st.ticks_due == 199);
    CHECK(st.tick_latency.min == 400 + 300);            // due inside its slot: on time
    CHECK(st.tick_latency.max == 2 * kMs + 400 + 2000); // due at guest 1's slot start: waits it out
    // Of the ticks due at 2 and 3 ms into each 4 ms frame, and at 4 ms, only one is delivered.
    SCHED_CHECK_NEAR(st.ticks_coalesced, 100, 1);
    CHECK(sim.sched.guest_stats(1).ticks_due == 0);
}

TEST_CASE("a natively halted guest is resumed halted unless a tick is injected") {
    // yield_on_hlt = 0: the guest halts inside guest mode; the timer ends its slot in HLT.
    Driver dr(Policy::fixed, {guest(kMs, 4 * kMs, false), guest(kMs)}, kS);
    dr.next(0);
    dr.run(100, kMs, ExitCause::halted_native_at_preemption);
    CHECK(dr.s.guest_stats(0).activity == Activity::halted_native);
    Decision d = dr.next(kMs + 200); // guest 1
    CHECK_FALSE(d.resume_halted);
    dr.run(kMs + 300, 2 * kMs, ExitCause::timer);
    d = dr.next(2 * kMs + 200); // guest 0 again, still in HLT, no tick due yet
    CHECK(d.guest == 0);
    CHECK(d.resume_halted);
    CHECK_FALSE(d.inject_tick);
    dr.run(2 * kMs + 300, 3 * kMs, ExitCause::halted_native_at_preemption);
    dr.next(3 * kMs + 200);
    dr.run(3 * kMs + 300, 4 * kMs, ExitCause::timer);
    d = dr.next(4 * kMs + 200); // its tick fell due at 4 ms: inject, which wakes it
    CHECK(d.guest == 0);
    CHECK(d.inject_tick);
    CHECK(d.resume_halted); // ...and without the injection it would stay in HLT
    dr.s.on_reentry(0, 4 * kMs + 300, true);
    CHECK(dr.s.guest_stats(0).activity == Activity::active);
    CHECK(dr.s.guest_stats(0).tick_latency.max == 300);
    dr.s.on_exit(0, 5 * kMs, ExitCause::timer);
    CHECK_FALSE(dr.s.guest_stats(0).halted_observable);
    dr.s.end(5 * kMs + 100);
    CHECK(dr.s.totals_add_up(0));
    CHECK(dr.s.run_stats().protocol_errors == 0);
}

TEST_CASE("pending ticks coalesce while the guest has interrupts disabled") {
    std::vector<GuestSpec> guests = {spinner(kMs)};
    guests[0].params.tick_period_ticks = 500 * kUs; // 2 kHz
    guests[0].behaviour.cli_from = 40 * kMs;
    guests[0].behaviour.cli_until = 60 * kMs;
    Sim sim(params(Policy::shared, 100 * kMs), guests);
    REQUIRE(sim.run());
    check_books(sim);
    const vmx::GuestStats& st = sim.sched.guest_stats(0);
    CHECK(st.ticks_due == 199);
    // 40 ticks fall due during the 20 ms with IF = 0; one stays pending, the rest are dropped.
    SCHED_CHECK_NEAR(st.ticks_coalesced, 39, 2);
    CHECK(st.ticks_injected + st.ticks_coalesced == st.ticks_due);
    CHECK(st.tick_latency.max >= 20 * kMs - kMs); // the pending one waited for IF = 1
    CHECK(sim.truth[0].ticks_taken == st.ticks_injected);
}

TEST_CASE("a trapped-halted guest that cannot take its tick goes back in HLT, unobservable") {
    std::vector<GuestSpec> guests = {spinner(kMs, true), idler(1000, 50 * kUs, true)};
    guests[1].behaviour.cli_from = 30 * kMs; // cli; hlt
    guests[1].behaviour.cli_until = 40 * kMs;
    Sim sim(params(Policy::shared, 100 * kMs), guests);
    REQUIRE(sim.run());
    check_books(sim);
    const vmx::GuestStats& st = sim.sched.guest_stats(1);
    CHECK_FALSE(st.halted_observable);
    CHECK(st.exits[cause_index(ExitCause::halted_native_at_preemption)] > 0);
    CHECK(sim.truth[1].native_halted > 0);
    CHECK(st.ticks_injected > 50); // it woke up again after IF = 1
}

TEST_CASE("shared + yield_on_hlt: HLT gives the slice away, a pending tick keeps it") {
    Driver dr(Policy::shared, {guest(kMs, 10 * kMs, true), guest(kMs)}, kS);
    dr.next(0);
    dr.run(100, 200 * kUs, ExitCause::halted); // halts early in its slice
    Decision d = dr.next(200 * kUs + 300);
    CHECK(d.guest == 1); // blocked until its tick: the rest of the slice goes to guest 1
    CHECK(d.new_slice);
    CHECK(d.timer_deadline == 200 * kUs + 300 + kMs);
    CHECK(dr.s.guest_stats(0).slice.total == 200 * kUs - 100);
    dr.run(200 * kUs + 500, 10 * kMs + 50, ExitCause::timer); // ran late, past the tick
    d = dr.next(10 * kMs + 400);
    CHECK(d.guest == 0); // its tick woke it
    CHECK(d.inject_tick);
    dr.s.on_reentry(0, 10 * kMs + 600, true);
    CHECK(dr.s.guest_stats(0).halted_wall == 10 * kMs + 600 - 200 * kUs);
    CHECK(dr.s.guest_stats(0).tick_latency.max == 600);
    // HLT with a tick already pending does not block: the slice goes on with the injection.
    dr.s.on_exit(0, 11 * kMs - 100, ExitCause::halted);
    // No tick is pending now: guest 1 gets the CPU.
    d = dr.next(11 * kMs);
    CHECK(d.guest == 1);
    dr.run(11 * kMs + 100, 12 * kMs, ExitCause::timer);
    d = dr.next(12 * kMs + 100); // guest 0 still blocked (next tick at 20 ms): guest 1 again
    CHECK(d.guest == 1);
    CHECK(d.new_slice);
    dr.s.end(12 * kMs + 200);
    CHECK(dr.s.totals_add_up(0));
}

TEST_CASE("shared: nobody runnable idles until the next tick of a halted guest") {
    Driver dr(Policy::shared, {guest(kMs, 5 * kMs, true), guest(kMs, 7 * kMs, true)}, kS);
    dr.next(0);
    dr.run(100, 200, ExitCause::halted);
    dr.next(300);
    dr.run(400, 500, ExitCause::halted);
    Decision d = dr.next(600);
    CHECK(d.kind == DecisionKind::idle);
    CHECK(d.guest == vmx::kNoGuest);
    CHECK(d.idle_until == 5 * kMs);
    d = dr.next(5 * kMs + 10);
    CHECK(d.kind == DecisionKind::run);
    CHECK(d.guest == 0);
    CHECK(d.inject_tick);
    CHECK(dr.s.run_stats().idle == 5 * kMs + 10 - 600);
}

TEST_CASE("fixed + yield_on_hlt: the slot is kept idle for its owner until its tick or slot end") {
    Driver dr(Policy::fixed, {guest(4 * kMs, kMs, true), guest(4 * kMs)}, kS);
    dr.next(0);
    dr.run(100, 300, ExitCause::halted);
    Decision d = dr.next(500);
    CHECK(d.kind == DecisionKind::idle);
    CHECK(d.guest == 0);
    CHECK(d.idle_until == kMs); // its tick
    d = dr.next(kMs);
    CHECK(d.kind == DecisionKind::run);
    CHECK(d.guest == 0);
    CHECK_FALSE(d.new_slice); // same slot, same slice
    CHECK(d.inject_tick);
    CHECK(d.timer_deadline == 2 * kMs);
    dr.run(kMs + 100, kMs + 200, ExitCause::halted, true);
    d = dr.next(kMs + 300);
    CHECK(d.idle_until == 2 * kMs);
    // A late wake-up past the slot end: halted up to the slot end only.
    dr.next(2 * kMs); // tick due, inject
    dr.run(2 * kMs + 100, 2 * kMs + 200, ExitCause::halted, true);
    d = dr.next(2 * kMs + 300);
    CHECK(d.idle_until == 3 * kMs);
    dr.next(3 * kMs);
    dr.run(3 * kMs + 100, 3 * kMs + 200, ExitCause::halted, true);
    d = dr.next(3 * kMs + 300);
    CHECK(d.idle_until == 4 * kMs); // slot end and tick coincide
    d = dr.next(4 * kMs + 5000);
    CHECK(d.guest == 1);
    const vmx::GuestStats& st = dr.s.guest_stats(0);
    CHECK(st.halted == (kMs - 500) + 3 * (kMs - 300));
    CHECK(st.slice.count == 1);
    CHECK(st.slice.total == 4 * kMs - 100);
    CHECK(dr.s.run_stats().idle == 5000);
    CHECK(dr.s.totals_add_up(0));
}

TEST_CASE("yield: shared hands the rest of the slice on, fixed leaves the slot idle") {
    Driver shared(Policy::shared, {guest(kMs), guest(kMs)}, kS);
    shared.next(0);
    shared.run(100, 300, ExitCause::yielded);
    CHECK(shared.next(400).guest == 1);
    shared.run(500, 600, ExitCause::yielded);
    CHECK(shared.next(700).guest == 0); // still runnable after a yield

    Driver fixed(Policy::fixed, {guest(kMs), guest(kMs)}, kS);
    fixed.next(0);
    fixed.run(100, 300, ExitCause::yielded);
    Decision d = fixed.next(400);
    CHECK(d.kind == DecisionKind::idle);
    CHECK(d.guest == vmx::kNoGuest);
    CHECK(d.idle_until == kMs);
    d = fixed.next(kMs);
    CHECK(d.guest == 1);
    CHECK(fixed.s.run_stats().idle == kMs - 400);
    CHECK(fixed.s.guest_stats(0).exits[cause_index(ExitCause::yielded)] == 1);
    CHECK(fixed.s.totals_add_up(0));
}

TEST_CASE("capped: the deadline includes budget exhaustion, the budget refills each period") {
    std::vector<GuestParams> gs = {guest(5 * kMs)};
    gs[0].cap_percent = 25;
    gs[0].cap_period_ticks = 10 * kMs;
    Driver dr(Policy::capped, gs, kS);
    Decision d = dr.next(0);
    CHECK(d.timer_deadline == 2500 * kUs);
    dr.run(100, 1000 * kUs, ExitCause::handled);
    d = dr.next(1000 * kUs + 400);
    CHECK(d.timer_deadline == 2500 * kUs); // the exit handling was paid from the budget
    dr.run(1000 * kUs + 500, 2500 * kUs, ExitCause::timer);
    d = dr.next(2500 * kUs + 400);
    CHECK(d.kind == DecisionKind::idle);
    CHECK(d.idle_until == 10 * kMs); // the next period
    CHECK(dr.s.guest_stats(0).throttled == 1);
    d = dr.next(10 * kMs);
    CHECK(d.kind == DecisionKind::run);
    CHECK(d.timer_deadline == 12500 * kUs);
}

TEST_CASE("slice statistics: min/mean/max against slots of different lengths") {
    Sim sim(params(Policy::fixed, 600 * kMs), {spinner(kMs), spinner(2 * kMs), spinner(3 * kMs)});
    REQUIRE(sim.run());
    check_books(sim);
    const Costs costs;
    for (std::size_t g = 0; g < 3; ++g) {
        INFO("guest " << g);
        const vmx::MinMeanMax& sl = sim.sched.guest_stats(g).slice;
        const std::uint64_t slot = (g + 1) * kMs;
        CHECK(sl.count == 100);
        CHECK(sl.min == slot - costs.exit - costs.switch_in); // entered after the switch
        CHECK(sl.max <= slot - costs.switch_in);              // the very first slot
        SCHED_CHECK_NEAR(sl.mean(), slot - costs.exit - costs.switch_in, 10);
    }
    std::uint64_t shares[3];
    vmx::busy_shares_ppm(sim.sched, shares);
    CHECK(shares[0] == 166666);
    CHECK(shares[2] == 500000);
}

TEST_CASE("when every guest is dead the run finishes early and the books still close") {
    std::vector<GuestSpec> guests = {spinner(), spinner()};
    guests[0].behaviour.dies_at = 3 * kMs;
    guests[1].behaviour.dies_at = 4 * kMs;
    for (vmx::OnGuestExit mode : {vmx::OnGuestExit::reserve, vmx::OnGuestExit::reclaim}) {
        for (Policy policy : {Policy::fixed, Policy::shared, Policy::capped}) {
            INFO(vmx::policy_name(policy));
            INFO(vmx::on_guest_exit_name(mode));
            Sim sim(params(policy, 0, mode), guests); // no duration: until nobody is left
            REQUIRE(sim.run());
            check_books(sim);
            CHECK(sim.t_end < 6 * kMs);
            CHECK(sim.sched.guest_stats(0).activity == Activity::dead);
            CHECK(sim.sched.guest_stats(1).activity == Activity::dead);
        }
    }
}

TEST_CASE("protocol mistakes are counted and ignored, time never runs backwards") {
    Driver dr(Policy::shared, {guest(kMs), guest(kMs)}, kS);
    dr.next(1000);
    dr.s.on_exit(0, 1100, ExitCause::timer); // not entered yet
    CHECK(dr.s.run_stats().protocol_errors == 1);
    dr.s.on_reentry(1, 1200, false); // not the decided guest
    CHECK(dr.s.run_stats().protocol_errors == 2);
    dr.s.on_reentry(0, 1200, true); // nothing to inject
    CHECK(dr.s.run_stats().protocol_errors == 3);
    dr.s.on_exit(0, 900, ExitCause::timer); // the TSC went backwards
    CHECK(dr.s.run_stats().protocol_errors == 4);
    CHECK(dr.s.guest_stats(0).ran == 0);
    dr.next(2000);
    dr.s.end(3000);
    CHECK(dr.s.run_stats().finished);
    CHECK(dr.s.totals_add_up(0));
    CHECK(dr.s.next(4000).kind == DecisionKind::finished);
}

TEST_CASE("a guest the shell cannot make current is reported dead without an entry") {
    for (Policy policy : {Policy::fixed, Policy::shared}) {
        INFO(vmx::policy_name(policy));
        Driver dr(policy, {guest(kMs), guest(kMs)}, 10 * kMs);
        Decision d = dr.next(0);
        REQUIRE(d.guest == 0);
        dr.s.on_exit(0, 100, ExitCause::dead); // VMPTRLD failed: never entered
        CHECK(dr.s.run_stats().protocol_errors == 0);
        CHECK(dr.s.guest_stats(0).activity == Activity::dead);
        CHECK(dr.s.guest_stats(0).exits[cause_index(ExitCause::dead)] == 1);
        CHECK(dr.s.guest_stats(0).ran == 0);
        d = dr.next(200); // `reserve`: the rest of its slot or turn stays idle
        CHECK(d.kind == DecisionKind::idle);
        CHECK(d.idle_until == kMs);
        dr.s.on_reentry(0, 300, false); // a dead guest cannot be entered
        CHECK(dr.s.run_stats().protocol_errors == 1);
        dr.s.on_exit(0, 400, ExitCause::dead); // nor die twice
        CHECK(dr.s.run_stats().protocol_errors == 2);
        CHECK(dr.next(kMs).guest == 1);
        dr.s.end(kMs + 500);
        CHECK(dr.s.totals_add_up(0));
        CHECK(dr.s.run_stats().idle == kMs - 200);
    }
}

TEST_CASE("the run ends at its duration: deadlines and idle never pass it") {
    Driver dr(Policy::fixed, {guest(3 * kMs, 0, true)}, 2 * kMs);
    Decision d = dr.next(0);
    CHECK(d.timer_deadline == 2 * kMs);
    dr.run(100, 500, ExitCause::halted);
    d = dr.next(600);
    CHECK(d.kind == DecisionKind::idle);
    CHECK(d.idle_until == 2 * kMs);
    d = dr.next(2 * kMs);
    CHECK(d.kind == DecisionKind::finished);
    dr.s.end(2 * kMs + 50);
    CHECK(dr.s.run_stats().length() == 2 * kMs + 50);
    CHECK(dr.s.guest_stats(0).halted == 2 * kMs - 600);
    CHECK(dr.s.guest_stats(0).activity == Activity::halted_trapped);
    CHECK(dr.s.totals_add_up(0));
}

TEST_CASE("ratio_ppm is exact below 2^44 and does not overflow above") {
    CHECK(vmx::ratio_ppm(1, 4) == 250000);
    CHECK(vmx::ratio_ppm(0, 0) == 0);
    CHECK(vmx::ratio_ppm(3600ull * kS / 4, 3600ull * kS) == 250000); // an hour at 1 GHz
    CHECK(vmx::ratio_ppm(~0ull / 3, ~0ull) == 333333);
    CHECK(vmx::ratio_ppm(~0ull, ~0ull) == 1000000);
}

TEST_CASE("an exit handled past the end of its guest's slot is that guest's: the neighbour keeps its slot") {
    // Guest 0 exits 0.9 ms into each of its slots and the hypervisor then works 0.3 ms for it:
    // 0.2 ms past the slot's end, every time.
    std::vector<GuestSpec> guests = {spinner(), spinner(), spinner()};
    guests[0].behaviour.kind = Workload::exitstorm;
    guests[0].behaviour.storm_every = 900 * kUs;
    guests[0].behaviour.storm_cost = 300 * kUs;
    for (Policy policy : {Policy::fixed, Policy::shared}) {
        INFO(vmx::policy_name(policy));
        Sim sim(params(policy, 300 * kMs), guests);
        REQUIRE(sim.run());
        check_books(sim);
        const vmx::GuestStats& culprit = sim.sched.guest_stats(0);
        // A shortened slot ends before the next exit is due, so about every other slot overruns.
        CHECK(culprit.overruns > 20);
        // The neighbours' slots are whole: the configured slice less the switch in (the run's
        // end may cut the last one).
        for (std::size_t g : {1u, 2u}) {
            const vmx::GuestStats& n = sim.sched.guest_stats(g);
            CHECK(n.slice.mean() + Costs{}.switch_in + Costs{}.exit >= kMs - 10 * kUs);
            CHECK(n.hypervisor == 0);
        }
        // Over the run every guest was allotted the same CPU, to within one slice and one overrun
        // (the end of the run cuts whoever holds the CPU): the culprit paid its overruns back
        // with shorter slots. Unpaid, they would be 20 times that.
        const std::uint64_t a[3] = {culprit.allotted, sim.sched.guest_stats(1).allotted,
                                    sim.sched.guest_stats(2).allotted};
        for (std::uint64_t x : a)
            for (std::uint64_t y : a) CHECK(x <= y + kMs + 300 * kUs);
        // The hypervisor's work for the culprit is the culprit's, never `switching`.
        const std::uint64_t slices = culprit.slice.count + sim.sched.guest_stats(1).slice.count +
                                     sim.sched.guest_stats(2).slice.count;
        CHECK(sim.sched.run_stats().switching <= slices * (Costs{}.switch_in + Costs{}.exit));
    }
}

TEST_CASE("the capacity a guest is promised is what the scheduler gives when every guest is busy") {
    // Random mixes of slices (and caps and periods under `capped`), every guest spinning, no
    // switching costs: each guest's allotted share over a long run must be its capacity_ppm, to
    // within what the run's length can resolve (a slice or a period at its end).
    std::uint32_t seed = 20101202;
    auto next = [&seed](std::uint32_t n) {
        seed = seed * 1103515245u + 12345u;
        return (seed >> 8) % n;
    };
    const Costs free{0, 0, 0, 0};
    for (int trial = 0; trial < 60; ++trial) {
        const Policy policy = trial % 3 == 0 ? Policy::fixed : trial % 3 == 1 ? Policy::shared : Policy::capped;
        const std::size_t n = 2 + next(5);
        std::vector<GuestSpec> guests;
        std::uint64_t longest = 0;
        for (std::size_t g = 0; g < n; ++g) {
            GuestSpec spec = spinner((50 + next(1950)) * kUs);
            if (policy == Policy::capped && next(3) != 0) {
                spec.params.cap_percent = 5 + next(90);
                spec.params.cap_period_ticks = spec.params.slice_ticks * (1 + next(20));
                longest = std::max(longest, spec.params.cap_period_ticks);
            }
            longest = std::max(longest, spec.params.slice_ticks);
            guests.push_back(spec);
        }
        const std::uint64_t duration = 4 * kS;
        INFO("trial ", trial, ", policy ", vmx::policy_name(policy), ", ", n, " guests");
        Sim sim(params(policy, duration), guests, free);
        REQUIRE(sim.run());
        // Resolution: both this run and the one busy_shares_ppm does end in a partial round or
        // budget period, worth up to about twice the longer of the two of their length.
        std::uint64_t round = 0;
        for (const GuestSpec& g : guests) round += g.params.slice_ticks;
        const std::uint64_t edge = 2 * std::max(round, longest);
        const std::uint64_t busy_run = std::max(1024 * round, 256 * longest);
        const std::uint64_t slack_ppm = vmx::ratio_ppm(edge, duration) + vmx::ratio_ppm(edge, busy_run) + 50;
        std::uint64_t shares[vmx::max_guests];
        vmx::busy_shares_ppm(sim.sched, shares);
        for (std::size_t g = 0; g < n; ++g) {
            const std::uint64_t promised = shares[g];
            const std::uint64_t got = sim.sched.allotted_ppm(g);
            INFO("guest ", g, ": slice ", guests[g].params.slice_ticks, ", cap ", guests[g].params.cap_percent,
                 "%, period ", guests[g].params.cap_period_ticks, ": promised ", promised, " ppm, got ", got);
            CHECK(got + slack_ppm >= promised);
            CHECK(got <= promised + slack_ppm);
        }
    }
}

TEST_CASE("a one-shot timer ends the slice where it falls, wakes a trapped HLT, and is counted") {
    // Two guests under `shared`; guest 0 programs its own timer (a Linux guest's APIC deadline).
    Driver t(Policy::shared, {guest(kMs, 0, true), guest(kMs, 0, true)}, 10 * kMs);
    t.next(0);
    REQUIRE(t.d.guest == 0);
    t.s.set_timer(0, 300000);
    t.s.on_reentry(0, 10, false);
    t.s.on_exit(0, 20, ExitCause::handled);
    t.next(30);
    CHECK(t.d.guest == 0);
    CHECK(t.d.timer_deadline == 300000); // the timer, not the slice end
    t.run(40, 300000, ExitCause::timer);
    t.next(300010);
    CHECK(t.d.guest == 0);
    CHECK(t.d.inject_tick);
    t.run(300020, 400000, ExitCause::halted, true); // took it, then halted
    CHECK(t.s.guest_stats(0).ticks_due == 1);
    CHECK(t.s.guest_stats(0).ticks_injected == 1);
    t.s.set_timer(0, 2 * kMs);
    t.next(400010);
    CHECK(t.d.guest == 1);
    t.run(400020, 1400020, ExitCause::timer);
    t.next(1400030);
    CHECK(t.d.guest == 1); // guest 0 is still halted: its timer is at 2 ms
    CHECK(t.d.timer_deadline == 2400030); // a neighbour's timer does not cut this slice
    t.run(1400040, 2400030, ExitCause::timer);
    t.next(2400040);
    CHECK(t.d.guest == 0); // woken by its timer at 2 ms, it runs when the CPU is next handed out
    CHECK(t.d.inject_tick);
    CHECK(t.d.resume_halted);
    CHECK(t.s.guest_stats(0).ticks_due == 2);
    CHECK(t.s.run_stats().protocol_errors == 0);
}

TEST_CASE("wake: a device's interrupt ends a trapped HLT at the next turn; it changes nothing for other guests") {
    // Two guests under `shared` with HLT trapped; guest 0 (a Linux guest) halts with its timer
    // far away, then a byte typed for it raises its UART's interrupt.
    Driver t(Policy::shared, {guest(kMs, 0, true), guest(kMs, 0, true)}, 20 * kMs);
    t.next(0);
    REQUIRE(t.d.guest == 0);
    t.s.set_timer(0, 15 * kMs);
    t.run(10, 100, ExitCause::halted);
    t.next(110);
    REQUIRE(t.d.guest == 1);
    t.s.wake(1); // running, not halted: nothing to change
    t.run(120, 120 + kMs, ExitCause::timer); // its slice ends
    t.next(130 + kMs);
    CHECK(t.d.guest == 1); // guest 0 still sleeps: its timer is at 15 ms
    t.run(140 + kMs, 500 + kMs, ExitCause::handled);
    t.s.wake(0);
    t.next(510 + kMs);
    CHECK(t.d.guest == 1); // the running slice is not cut
    t.run(520 + kMs, 140 + 2 * kMs, ExitCause::timer);
    t.next(150 + 2 * kMs);
    CHECK(t.d.guest == 0); // runnable at the next turn, not at its timer (15 ms)
    CHECK(t.d.resume_halted);
    CHECK_FALSE(t.d.inject_tick); // no tick of its own is due
    t.run(160 + 2 * kMs, 200 + 2 * kMs, ExitCause::halted);
    CHECK(t.s.guest_stats(0).halted_wall == 160 + 2 * kMs - 100); // halted until entered awake
    CHECK(t.s.guest_stats(0).ticks_due == 0);
    // Halted again: only its timer or another wake ends it.
    t.next(210 + 2 * kMs);
    CHECK(t.d.guest == 1);
    CHECK(t.s.run_stats().protocol_errors == 0);
}
