// The thread's experiments (README, "Scheduling policies") (1-6), run in the simulator under the policies they name.
// Shares are in parts per million of the run: 250000 = 25%, 5000 = 0.5 points. Every run also
// goes through check_books (totals add up, guest time and ticks equal the simulated truth).
#include "tests/unit/scheduler_sim.hpp"

#include <doctest/doctest.h>

using namespace schedsim;
using vmx::Activity;
using vmx::OnGuestExit;
using vmx::Policy;

namespace {

constexpr std::uint64_t kQuarter = 250000;
constexpr std::uint64_t kThird = 333333;
constexpr std::uint64_t kHalfPoint = 5000;

std::vector<GuestSpec> four_spinners() {
    return {spinner(), spinner(), spinner(), spinner()};
}

// Three CPU-bound guests and one that ticks at 100 Hz and works 100 us per tick (~1%).
std::vector<GuestSpec> three_spinners_one_idle(bool yield_on_hlt) {
    return {spinner(kMs, yield_on_hlt), spinner(kMs, yield_on_hlt), spinner(kMs, yield_on_hlt),
            idler(100, 100 * kUs, yield_on_hlt)};
}

// Idle time of the shell that fell inside guest g's slots of a `fixed` frame anchored at t0
// (computed from the slot layout, independently of the scheduler).
std::uint64_t idle_inside_slots(const Sim& sim, std::size_t g) {
    std::uint64_t frame = 0, offset = 0;
    for (std::size_t h = 0; h < sim.sched.guest_count(); ++h) {
        if (h < g) offset += sim.sched.guest_params(h).slice_ticks;
        frame += sim.sched.guest_params(h).slice_ticks;
    }
    const std::uint64_t slot = sim.sched.guest_params(g).slice_ticks;
    std::uint64_t total = 0;
    for (const IdleSpan& span : sim.idle) {
        const std::uint64_t k = (span.from - sim.t0) / frame;
        for (std::uint64_t f = k; f <= k + 1; ++f) {
            const std::uint64_t start = sim.t0 + f * frame + offset;
            total += overlap(span.from, span.to, start, start + slot);
        }
    }
    return total;
}

void check_spinners_near(const Sim& sim, std::size_t count, std::uint64_t expected) {
    for (std::size_t g = 0; g < count; ++g) {
        INFO("guest " << g);
        SCHED_CHECK_NEAR(sim.sched.share_ppm(g), expected, kHalfPoint);
    }
}

} // namespace

TEST_CASE("experiment 1, fixed: four CPU-bound guests get 25% each") {
    Sim sim(params(Policy::fixed, kS), four_spinners());
    REQUIRE(sim.run());
    check_books(sim);
    print_shares(sim, "exp1 fixed, 4 spinners");
    check_spinners_near(sim, 4, kQuarter);
    for (std::size_t g = 0; g < 4; ++g)
        CHECK(sim.sched.guest_stats(g).slice.count >= 200);
    CHECK(sim.sched.run_stats().idle == 0);
}

TEST_CASE("experiment 1, shared: four CPU-bound guests get 25% each") {
    Sim sim(params(Policy::shared, kS), four_spinners());
    REQUIRE(sim.run());
    check_books(sim);
    print_shares(sim, "exp1 shared, 4 spinners");
    check_spinners_near(sim, 4, kQuarter);
    for (std::size_t g = 0; g < 4; ++g)
        CHECK(sim.sched.guest_stats(g).slice.count >= 200);
}

TEST_CASE("experiment 1, capped above the fair share: four CPU-bound guests get 25% each") {
    std::vector<GuestSpec> guests = four_spinners();
    for (GuestSpec& g : guests) {
        g.params.cap_percent = 30;
        g.params.cap_period_ticks = 10 * kMs;
    }
    Sim sim(params(Policy::capped, kS), guests);
    REQUIRE(sim.run());
    check_books(sim);
    print_shares(sim, "exp1 capped 30%, 4 spinners");
    check_spinners_near(sim, 4, kQuarter);
    for (std::size_t g = 0; g < 4; ++g)
        CHECK(sim.sched.guest_stats(g).throttled == 0);
}

TEST_CASE("experiment 2, shared + yield_on_hlt=1: 3 spinners + 1 idle give about 1/33/33/33") {
    Sim sim(params(Policy::shared, kS), three_spinners_one_idle(true));
    REQUIRE(sim.run());
    check_books(sim);
    print_shares(sim, "exp2 shared yoh=1, 3 spinners + idle");
    check_spinners_near(sim, 3, 330000);
    SCHED_CHECK_NEAR(sim.sched.share_ppm(3), 10000, kHalfPoint);
    const vmx::GuestStats& idle = sim.sched.guest_stats(3);
    CHECK(idle.halted_observable);
    CHECK(idle.halted == 0); // nobody idles on its behalf: its slice went to the others
    CHECK(idle.exits[static_cast<std::size_t>(vmx::ExitCause::halted)] >= 90);
    CHECK(idle.ticks_injected >= 95);
    CHECK(sim.sched.run_stats().idle == 0); // work-conserving
}

TEST_CASE("experiment 2, shared + yield_on_hlt=0: the idle guest keeps its slices, 25% each") {
    Sim sim(params(Policy::shared, kS), three_spinners_one_idle(false));
    REQUIRE(sim.run());
    check_books(sim);
    print_shares(sim, "exp2 shared yoh=0, 3 spinners + idle");
    check_spinners_near(sim, 4, kQuarter);
    const vmx::GuestStats& idle = sim.sched.guest_stats(3);
    CHECK_FALSE(idle.halted_observable); // its HLT time hides inside `ran`
    CHECK(idle.halted == 0);
    CHECK(sim.truth[3].native_halted > 20 * sim.truth[3].worked);
    CHECK(idle.exits[static_cast<std::size_t>(vmx::ExitCause::halted_native_at_preemption)] > 0);
}

TEST_CASE("experiment 2, fixed + yield_on_hlt=0: 25% each") {
    Sim sim(params(Policy::fixed, kS), three_spinners_one_idle(false));
    REQUIRE(sim.run());
    check_books(sim);
    print_shares(sim, "exp2 fixed yoh=0, 3 spinners + idle");
    check_spinners_near(sim, 4, kQuarter);
    CHECK_FALSE(sim.sched.guest_stats(3).halted_observable);
}

TEST_CASE("experiment 6, fixed + yield_on_hlt=1: 25% each and the idle guest's halted time exact") {
    Sim sim(params(Policy::fixed, kS), three_spinners_one_idle(true));
    REQUIRE(sim.run());
    check_books(sim);
    print_shares(sim, "exp6 fixed yoh=1, 3 spinners + idle");
    check_spinners_near(sim, 3, kQuarter);
    const vmx::Scheduler& s = sim.sched;
    const vmx::GuestStats& idle = s.guest_stats(3);
    // The slot stays the idle guest's: 25% allotted, of which ~1% in guest mode.
    SCHED_CHECK_NEAR(s.allotted_ppm(3), kQuarter, kHalfPoint);
    SCHED_CHECK_NEAR(s.share_ppm(3), 10000, kHalfPoint);
    CHECK(idle.halted_observable);
    CHECK(idle.halted > 0);
    CHECK(idle.halted == idle_inside_slots(sim, 3)); // exact, to the tick
    CHECK(idle.halted == s.run_stats().idle_on_behalf);
    CHECK(s.run_stats().idle == 0); // all idling was on its behalf
    // Its ticks fall in other guests' slots too; those wait for its slot.
    CHECK(idle.tick_latency.max < s.frame_ticks());
}

TEST_CASE("experiment 6 holds when the shell wakes late from idle: the frame does not drift") {
    Costs costs;
    costs.wake = 7 * kUs;
    Sim sim(params(Policy::fixed, kS), three_spinners_one_idle(true), costs);
    sim.record_runs = true;
    REQUIRE(sim.run());
    check_books(sim);
    CHECK(sim.sched.guest_stats(3).halted == idle_inside_slots(sim, 3));
    // Every slice starts inside its own slot of the frame anchored at the start.
    const std::uint64_t frame = sim.sched.frame_ticks();
    for (const RunRecord& r : sim.runs) {
        if (!r.new_slice) continue;
        const std::uint64_t slot = (r.entry - sim.t0) % frame / kMs;
        REQUIRE(slot == r.guest);
    }
    check_spinners_near(sim, 3, kQuarter);
}

TEST_CASE("experiment 3, fixed: a fifth guest using ~5% drops the CPU-bound guests to 20%") {
    std::vector<GuestSpec> guests = three_spinners_one_idle(false);
    guests.push_back(spinner());
    guests[3] = idler(100, 500 * kUs, false);
    Sim sim(params(Policy::fixed, kS), guests);
    REQUIRE(sim.run());
    check_books(sim);
    print_shares(sim, "exp3 fixed yoh=0, 4 spinners + 5% guest");
    for (std::size_t g : {0u, 1u, 2u, 4u}) {
        INFO("guest " << g);
        SCHED_CHECK_NEAR(sim.sched.share_ppm(g), 200000, kHalfPoint);
    }
}

TEST_CASE(
    "experiment 3, shared + yield_on_hlt=1: a fifth guest using ~5% barely moves the others") {
    std::vector<GuestSpec> guests = {spinner(kMs, true), spinner(kMs, true), spinner(kMs, true),
                                     idler(100, 500 * kUs, true), spinner(kMs, true)};
    Sim sim(params(Policy::shared, kS), guests);
    REQUIRE(sim.run());
    check_books(sim);
    print_shares(sim, "exp3 shared yoh=1, 4 spinners + 5% guest");
    for (std::size_t g : {0u, 1u, 2u, 4u}) {
        INFO("guest " << g);
        SCHED_CHECK_NEAR(sim.sched.share_ppm(g), 237500, 2 * kHalfPoint); // (100 - 5) / 4
    }
    SCHED_CHECK_NEAR(sim.sched.share_ppm(3), 50000, kHalfPoint);
}

TEST_CASE("experiment 4, fixed + reserve: a crashed guest's slot stays, the others keep 25%") {
    std::vector<GuestSpec> guests = four_spinners();
    guests[1].behaviour.dies_at = 5 * kMs;
    Sim sim(params(Policy::fixed, kS, OnGuestExit::reserve), guests);
    REQUIRE(sim.run());
    check_books(sim);
    print_shares(sim, "exp4 fixed reserve, crash at 5 ms");
    for (std::size_t g : {0u, 2u, 3u})
        SCHED_CHECK_NEAR(sim.sched.share_ppm(g), kQuarter, kHalfPoint);
    const vmx::GuestStats& dead = sim.sched.guest_stats(1);
    CHECK(dead.activity == Activity::dead);
    CHECK(dead.died_at >= 5 * kMs);
    CHECK(dead.exits[static_cast<std::size_t>(vmx::ExitCause::dead)] == 1);
    SCHED_CHECK_NEAR(sim.sched.idle_ppm(), kQuarter, kHalfPoint);
}

TEST_CASE("experiment 4, fixed + reclaim: a crashed guest's slot leaves, the others get 33%") {
    std::vector<GuestSpec> guests = four_spinners();
    guests[1].behaviour.dies_at = 5 * kMs;
    Sim sim(params(Policy::fixed, kS, OnGuestExit::reclaim), guests);
    REQUIRE(sim.run());
    check_books(sim);
    print_shares(sim, "exp4 fixed reclaim, crash at 5 ms");
    for (std::size_t g : {0u, 2u, 3u})
        SCHED_CHECK_NEAR(sim.sched.share_ppm(g), kThird, kHalfPoint);
    CHECK(sim.sched.run_stats().idle == 0);
    CHECK(sim.sched.frame_ticks() == 3 * kMs);
}

TEST_CASE("experiment 4, shared: a powerdown with reserve keeps 25%, with reclaim gives 33%") {
    for (OnGuestExit mode : {OnGuestExit::reserve, OnGuestExit::reclaim}) {
        INFO(vmx::on_guest_exit_name(mode));
        std::vector<GuestSpec> guests = four_spinners();
        guests[2].behaviour.dies_at = 5 * kMs;
        Sim sim(params(Policy::shared, kS, mode), guests);
        REQUIRE(sim.run());
        check_books(sim);
        print_shares(sim, mode == OnGuestExit::reserve ? "exp4 shared reserve, powerdown at 5 ms"
                                                       : "exp4 shared reclaim, powerdown at 5 ms");
        const std::uint64_t expected = mode == OnGuestExit::reserve ? kQuarter : kThird;
        for (std::size_t g : {0u, 1u, 3u})
            SCHED_CHECK_NEAR(sim.sched.share_ppm(g), expected, kHalfPoint);
    }
}

TEST_CASE(
    "experiment 5, capped: two guests capped at 25% each get at most 25%, the CPU idles 50%") {
    std::vector<GuestSpec> guests = {spinner(), spinner()};
    for (GuestSpec& g : guests) {
        g.params.cap_percent = 25;
        g.params.cap_period_ticks = 10 * kMs;
    }
    Sim sim(params(Policy::capped, kS), guests);
    REQUIRE(sim.run());
    check_books(sim);
    print_shares(sim, "exp5 capped 25%, 2 spinners");
    for (std::size_t g = 0; g < 2; ++g) {
        CHECK(sim.sched.share_ppm(g) <= kQuarter);
        CHECK(sim.sched.allotted_ppm(g) <= kQuarter + 1000); // the exit that ends a budget
        SCHED_CHECK_NEAR(sim.sched.share_ppm(g), kQuarter, kHalfPoint);
        CHECK(sim.sched.guest_stats(g).throttled >= 95);
    }
    SCHED_CHECK_NEAR(sim.sched.idle_ppm(), 500000, kHalfPoint);
}

TEST_CASE("capped is work-conserving within budgets: an uncapped neighbour takes the rest") {
    std::vector<GuestSpec> guests = {spinner(), spinner()};
    guests[0].params.cap_percent = 25;
    guests[0].params.cap_period_ticks = 10 * kMs;
    Sim sim(params(Policy::capped, kS), guests);
    REQUIRE(sim.run());
    check_books(sim);
    print_shares(sim, "capped 25% + uncapped spinner");
    CHECK(sim.sched.share_ppm(0) <= kQuarter);
    SCHED_CHECK_NEAR(sim.sched.share_ppm(0), kQuarter, kHalfPoint);
    SCHED_CHECK_NEAR(sim.sched.share_ppm(1), 750000, kHalfPoint);
    CHECK(sim.sched.run_stats().idle == 0);
}

TEST_CASE("an exit-storming neighbour moves nobody else's share by more than 0.5 points") {
    for (Policy policy : {Policy::fixed, Policy::shared}) {
        INFO(vmx::policy_name(policy));
        Sim calm(params(policy, kS), four_spinners());
        REQUIRE(calm.run());
        std::vector<GuestSpec> guests = four_spinners();
        guests[0].behaviour.kind = Workload::exitstorm;
        guests[0].behaviour.storm_every = 10 * kUs;
        guests[0].behaviour.storm_cost = 5 * kUs;
        Sim storm(params(policy, kS), guests);
        REQUIRE(storm.run());
        check_books(storm);
        print_shares(storm, policy == Policy::fixed ? "exitstorm neighbour, fixed"
                                                    : "exitstorm neighbour, shared");
        for (std::size_t g = 1; g < 4; ++g) {
            INFO("guest " << g);
            SCHED_CHECK_NEAR(storm.sched.share_ppm(g), calm.sched.share_ppm(g), kHalfPoint);
        }
        // The storm is paid from its own slices: it keeps its allotment, runs less of it.
        const vmx::GuestStats& s = storm.sched.guest_stats(0);
        SCHED_CHECK_NEAR(storm.sched.allotted_ppm(0), kQuarter, kHalfPoint);
        CHECK(s.hypervisor > s.ran / 3);
        CHECK(s.exits[static_cast<std::size_t>(vmx::ExitCause::handled)] > 10000);
    }
}

TEST_CASE("a bursty guest under shared: books exact, CPU-bound neighbours stay equal") {
    std::vector<GuestSpec> guests = {spinner(kMs, true), spinner(kMs, true), spinner(kMs, true),
                                     idler(100, 100 * kUs, true)};
    guests[3].behaviour.kind = Workload::bursty;
    guests[3].behaviour.burst = 4 * kMs;
    guests[3].behaviour.burst_every = 5;
    Sim sim(params(Policy::shared, kS), guests);
    REQUIRE(sim.run());
    check_books(sim);
    print_shares(sim, "bursty + 3 spinners, shared yoh=1");
    CHECK(sim.sched.guest_stats(3).ran == sim.truth[3].worked); // HLT traps: no hidden halt
    const std::uint64_t a = sim.sched.share_ppm(0);
    for (std::size_t g = 1; g < 3; ++g)
        SCHED_CHECK_NEAR(sim.sched.share_ppm(g), a, kHalfPoint);
    CHECK(sim.sched.share_ppm(3) > 50000); // its bursts got CPU
}

TEST_CASE("random mixes of policies, guests and costs: every tick is accounted exactly once") {
    std::uint64_t state = 0x9e3779b97f4a7c15ull;
    auto rnd = [&state](std::uint64_t n) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state % n;
    };
    for (int round = 0; round < 40; ++round) {
        CAPTURE(round);
        const auto policy = static_cast<Policy>(rnd(3));
        const auto mode = static_cast<vmx::OnGuestExit>(rnd(2));
        std::vector<GuestSpec> guests;
        const std::uint64_t n = 1 + rnd(5);
        for (std::uint64_t i = 0; i < n; ++i) {
            GuestSpec g = spinner((1 + rnd(3)) * kMs / 2, rnd(2) == 0);
            if (rnd(3) == 0) g.params.tick_period_ticks = (1 + rnd(10)) * kMs;
            g.params.cap_percent = static_cast<std::uint32_t>(rnd(101));
            g.params.cap_period_ticks = (1 + rnd(20)) * kMs;
            switch (rnd(4)) {
            case 0:
                g.behaviour.kind = Workload::idle;
                g.behaviour.work = rnd(kMs);
                break;
            case 1:
                g.behaviour.kind = Workload::bursty;
                g.behaviour.work = rnd(100 * kUs);
                g.behaviour.burst = rnd(5 * kMs);
                g.behaviour.burst_every = 1 + rnd(4);
                break;
            case 2:
                g.behaviour.kind = Workload::exitstorm;
                g.behaviour.storm_every = 1 + rnd(50 * kUs);
                g.behaviour.storm_cost = rnd(10 * kUs);
                break;
            default:
                break;
            }
            if (rnd(4) == 0) g.behaviour.dies_at = rnd(60 * kMs);
            if (rnd(4) == 0) {
                g.behaviour.cli_from = rnd(60 * kMs);
                g.behaviour.cli_until = g.behaviour.cli_from + rnd(10 * kMs);
            }
            guests.push_back(g);
        }
        Costs costs;
        costs.exit = rnd(2000);
        costs.entry = rnd(1000);
        costs.switch_in = rnd(5000);
        costs.wake = rnd(3000);
        Sim sim(params(policy, 60 * kMs, mode), guests, costs);
        REQUIRE(sim.run());
        check_books(sim);
        for (std::size_t g = 0; g < guests.size(); ++g) {
            const vmx::GuestStats& st = sim.sched.guest_stats(g);
            if (policy != Policy::capped || guests[g].params.cap_percent == 0) continue;
            // Each period's use stays within the cap, give or take the exit that ends it.
            const std::uint64_t periods = 60 * kMs / guests[g].params.cap_period_ticks + 1;
            const std::uint64_t budget =
                guests[g].params.cap_period_ticks * guests[g].params.cap_percent / 100;
            CHECK(st.allotted <= periods * (budget + costs.exit + 1));
        }
    }
}
