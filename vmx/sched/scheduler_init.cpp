// The scheduler's set-up: the configuration checked and taken (init), and the run started at the
// first decision (start). The protocol itself is in scheduler.cpp.
#include "vmx/sched/scheduler.hpp"

#include "vmx/sched/scheduler_util.hpp"

namespace vmx {
namespace {

// "more than N guests" with N = max_guests, written at compile time so that the limit is stated
// once (vmx/lib/guest_limit.hpp).
struct TooManyGuestsText {
    char text[40] = {};
};

constexpr TooManyGuestsText too_many_guests_text() {
    TooManyGuestsText t;
    const char head[] = "more than ";
    const char tail[] = " guests";
    std::size_t n = 0;
    for (std::size_t i = 0; head[i] != '\0'; ++i) t.text[n++] = head[i];
    char digits[20] = {};
    std::size_t d = 0;
    for (std::size_t v = max_guests; v != 0 || d == 0; v /= 10) digits[d++] = static_cast<char>('0' + v % 10);
    while (d != 0) t.text[n++] = digits[--d];
    for (std::size_t i = 0; tail[i] != '\0'; ++i) t.text[n++] = tail[i];
    return t;
}

constexpr TooManyGuestsText kTooManyGuests = too_many_guests_text();

} // namespace

const char* init_error_text(InitError error) {
    switch (error) {
    case InitError::none:
        return "ok";
    case InitError::no_guests:
        return "no guests configured";
    case InitError::too_many_guests:
        return kTooManyGuests.text;
    case InitError::zero_slice:
        return "a guest has a zero slice";
    case InitError::bad_cap_percent:
        return "cap_percent must be 1..100";
    case InitError::zero_cap_period:
        return "a capped guest needs period_us > 0";
    }
    return "unknown error";
}

InitError Scheduler::init(const SchedParams& params, const GuestParams* guests, std::size_t count) {
    if (count == 0 || guests == nullptr) return InitError::no_guests;
    if (count > max_guests) return InitError::too_many_guests;
    for (std::size_t g = 0; g < count; ++g) {
        if (guests[g].slice_ticks == 0) return InitError::zero_slice;
        if (params.policy != Policy::capped) continue;
        if (guests[g].cap_percent > 100) return InitError::bad_cap_percent;
        if (guests[g].cap_percent != 0 && guests[g].cap_period_ticks == 0)
            return InitError::zero_cap_period;
    }
    params_ = params;
    count_ = count;
    for (std::size_t g = 0; g < max_guests; ++g) {
        guests_[g] = GuestRuntime{};
        stats_[g] = GuestStats{};
        if (g < count) guests_[g].p = guests[g];
    }
    run_ = RunStats{};
    timeline_.reset(0, 0);
    run_end_ = 0;
    frame_len_ = 0;
    ticks_.clear();
    wakes_.clear();
    refills_.clear();
    runnable_.clear();
    frame_.clear();
    alive_count_ = 0;
    never_count_ = 0;
    phase_ = Phase::root;
    mark_ = 0;
    q_ = Quantum{};
    rr_last_ = kNoGuest;
    owner_ = kNoGuest;
    owner_seq_ = 0;
    slice_begun_ = false;
    slice_start_ = slice_last_ = 0;
    entering_ = kNoGuest;
    entering_inject_ = false;
    handled_exit_ = false;
    idle_for_ = kNoGuest;
    idle_bound_ = 0;
    short_until_ = 0;
    return InitError::none;
}

void Scheduler::start(std::uint64_t now) {
    run_.started = true;
    run_.start = run_.end = now;
    mark_ = now;
    timeline_.reset(now, params_.timeline_ticks);
    run_end_ = params_.duration_ticks == 0 ? kForever : sat_add(now, params_.duration_ticks);
    ticks_.clear(); // a timer set before the start is forgotten, as next_due is below
    for (std::size_t g = 0; g < count_; ++g) {
        GuestRuntime& r = guests_[g];
        // Ticks are anchored to the start of the run, not to entries: the guest's clock keeps
        // wall time whoever has the CPU (Marcelo Tosatti's "timer reinjection").
        r.next_due = r.p.tick_period_ticks == 0 ? kForever : sat_add(now, r.p.tick_period_ticks);
        stats_[g].halted_observable = r.p.yield_on_hlt;
        frame_.insert(g);
        if (params_.policy == Policy::capped && r.p.cap_percent != 0) {
            const std::uint64_t period = r.p.cap_period_ticks;
            // period * cap / 100 without overflowing 64 bits.
            r.budget = period / 100 * r.p.cap_percent + period % 100 * r.p.cap_percent / 100;
            if (r.budget == 0) r.budget = 1;
            r.period_end = sat_add(now, period);
        }
        if (params_.policy == Policy::fixed) frame_len_ += r.p.slice_ticks;
        if (r.next_due != kForever) ticks_.set(g, r.next_due);
        place(g, now);
    }
    alive_count_ = count_;
    frame_changed();
    if (params_.policy == Policy::fixed) {
        // The frame is anchored at the start: slot boundaries are absolute times, so that
        // switching costs and late exits never make a frame drift (determinism: the README's "Choosing a policy").
        q_.guest = 0;
        q_.end = sat_add(now, guests_[0].p.slice_ticks);
        q_.seq = 1;
    }
}

} // namespace vmx
