// The slice timeline (vmx/sched/scheduler_timeline.hpp): the bounded trace of who had the CPU when,
// checked on its own and against the simulator's record of entries, exits and idling.
#include "tests/unit/scheduler_sim.hpp"
#include "vmx/sched/scheduler_timeline.hpp"

#include <doctest/doctest.h>

using namespace schedsim;
using vmx::Policy;
using vmx::SpanKind;
using vmx::Timeline;

namespace {

vmx::SchedParams traced(Policy policy, std::uint64_t duration, std::uint64_t window) {
    vmx::SchedParams p = params(policy, duration);
    p.timeline_ticks = window;
    return p;
}

} // namespace

TEST_CASE("timeline: adjacent pieces of one guest and kind merge, others start a new span") {
    Timeline t;
    t.reset(100, 1000);
    t.add(1, SpanKind::running, 100, 150);
    t.add(1, SpanKind::running, 150, 160);  // exit handling right after guest mode: same span
    t.add(1, SpanKind::halted, 160, 200);
    t.add(2, SpanKind::running, 210, 300);  // a switching gap: new span
    t.add(7, SpanKind::idle, 300, 320);
    t.add(3, SpanKind::idle, 320, 330);     // idle belongs to nobody: merges whatever the guest
    REQUIRE(t.count() == 4);
    CHECK(t.at(0).start == 100);
    CHECK(t.at(0).end == 160);
    CHECK(t.at(1).kind == SpanKind::halted);
    CHECK(t.at(2).guest == 2);
    CHECK(t.at(2).start == 210);
    CHECK(t.at(3).kind == SpanKind::idle);
    CHECK(t.at(3).end == 330);
    CHECK(t.dropped() == 0);
}

TEST_CASE("timeline: clipped to its window, off with window 0, bounded by its capacity") {
    Timeline t;
    t.reset(1000, 500);
    t.add(0, SpanKind::running, 1400, 1700);
    t.add(1, SpanKind::running, 1500, 1600); // starts at the window's end: not kept
    REQUIRE(t.count() == 1);
    CHECK(t.at(0).end == 1500);

    Timeline off;
    off.reset(0, 0);
    off.add(0, SpanKind::running, 0, 10);
    CHECK(off.count() == 0);

    Timeline full;
    full.reset(0, 1u << 30);
    for (std::uint64_t i = 0; i < Timeline::capacity + 5; ++i)
        full.add(i % 2, SpanKind::running, 2 * i, 2 * i + 1);
    CHECK(full.count() == Timeline::capacity);
    CHECK(full.dropped() == 5);
}

TEST_CASE("timeline under shared: every guest-mode interval in the window lies in a running span "
          "of its guest, and spans never overlap") {
    Sim sim(traced(Policy::shared, 100 * kMs, 50 * kMs),
            {spinner(), spinner(), spinner(), idler(100, 100 * kUs, true)});
    sim.record_runs = true;
    REQUIRE(sim.run());
    const Timeline& t = sim.sched.timeline();
    REQUIRE(t.count() > 10);
    CHECK(t.dropped() == 0);
    CHECK(t.start() == sim.t0);
    for (std::size_t i = 1; i < t.count(); ++i) {
        CHECK(t.at(i - 1).end <= t.at(i).start);
        CHECK(t.at(i).start < t.at(i).end);
    }
    CHECK(t.at(t.count() - 1).end <= sim.t0 + 50 * kMs);
    std::size_t checked = 0;
    for (const RunRecord& r : sim.runs) {
        if (r.exit > sim.t0 + 50 * kMs) break;
        if (r.exit == r.entry) continue; // no time in guest mode (timer value 0): nothing to show
        bool inside = false;
        for (std::size_t i = 0; i < t.count(); ++i) {
            const vmx::Span& s = t.at(i);
            if (s.kind == SpanKind::running && s.guest == r.guest && s.start <= r.entry && r.exit <= s.end)
                inside = true;
        }
        CHECK(inside);
        ++checked;
    }
    CHECK(checked > 10);
}

TEST_CASE("timeline under fixed + yield_on_hlt=1: the idle guest's halted spans add up to its "
          "halted time") {
    Sim sim(traced(Policy::fixed, 40 * kMs, 1 * kS), // the window covers the whole run
            {spinner(kMs, true), spinner(kMs, true), spinner(kMs, true), idler(100, 100 * kUs, true)});
    REQUIRE(sim.run());
    const Timeline& t = sim.sched.timeline();
    std::uint64_t halted = 0, running[4] = {0, 0, 0, 0};
    for (std::size_t i = 0; i < t.count(); ++i) {
        const vmx::Span& s = t.at(i);
        if (s.kind == SpanKind::halted) {
            CHECK(s.guest == 3);
            halted += s.end - s.start;
        }
        if (s.kind == SpanKind::running) running[s.guest] += s.end - s.start;
    }
    const vmx::GuestStats& idle = sim.sched.guest_stats(3);
    CHECK(halted == idle.halted);
    for (std::size_t g = 0; g < 4; ++g) {
        const vmx::GuestStats& st = sim.sched.guest_stats(g);
        CHECK(running[g] == st.ran + st.hypervisor);
    }
}
