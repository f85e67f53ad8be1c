// The scheduler's queues on their own: TimerHeap and GuestSet against plain scans of the same
// contents, over random operations on up to max_guests guests.
#include "vmx/sched/guest_set.hpp"
#include "vmx/sched/timer_heap.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

namespace {

struct Lcg {
    std::uint64_t s;
    std::uint64_t below(std::uint64_t n) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        return (s >> 33) % n;
    }
};

constexpr std::uint64_t kAbsent = ~std::uint64_t{0};

} // namespace

TEST_CASE("timer heap: the earliest time is always on top; set moves, erase removes") {
    Lcg rng{7};
    vmx::TimerHeap heap;
    std::vector<std::uint64_t> time(vmx::max_guests, kAbsent); // the reference: a plain array
    CHECK(heap.empty());
    CHECK(heap.top_time() == kAbsent);
    for (int op = 0; op < 200000; ++op) {
        const std::size_t g = rng.below(op < 100000 ? 16 : vmx::max_guests);
        const std::uint64_t r = rng.below(10);
        if (r < 6) {
            const std::uint64_t t = rng.below(r < 3 ? 50 : 1000000); // many ties, and spread times
            heap.set(g, t);
            time[g] = t;
        } else if (r < 9) {
            heap.erase(g);
            time[g] = kAbsent;
        } else if (!heap.empty()) { // pop the earliest, as the scheduler does with due ticks
            time[heap.top()] = kAbsent;
            heap.erase(heap.top());
        }
        std::uint64_t earliest = kAbsent;
        std::size_t members = 0;
        bool membership = true;
        for (std::size_t h = 0; h < vmx::max_guests; ++h) {
            if (time[h] != kAbsent) ++members;
            if (time[h] < earliest) earliest = time[h];
            membership = membership && heap.contains(h) == (time[h] != kAbsent);
        }
        REQUIRE(membership);
        REQUIRE(heap.empty() == (members == 0));
        REQUIRE(heap.top_time() == earliest);
        if (!heap.empty()) REQUIRE(time[heap.top()] == earliest);
    }
    heap.clear();
    CHECK(heap.empty());
    for (std::size_t h = 0; h < vmx::max_guests; ++h) CHECK_FALSE(heap.contains(h));
}

TEST_CASE("guest set: the first member at or after a position, wrapping around") {
    Lcg rng{11};
    vmx::GuestSet set;
    std::vector<bool> in(vmx::max_guests, false);
    CHECK(set.next_cyclic(0) == vmx::GuestSet::none);
    for (int op = 0; op < 100000; ++op) {
        const std::size_t g = rng.below(vmx::max_guests);
        if (rng.below(3) == 0) {
            set.erase(g);
            in[g] = false;
        } else {
            set.insert(g);
            in[g] = true;
        }
        if (op % 5000 == 0) { // empty it now and then: sparse sets too
            set.clear();
            in.assign(vmx::max_guests, false);
        }
        const std::size_t from = rng.below(vmx::max_guests);
        std::size_t expected = vmx::GuestSet::none;
        for (std::size_t i = 0; i < vmx::max_guests; ++i) {
            const std::size_t h = (from + i) % vmx::max_guests;
            if (in[h]) {
                expected = h;
                break;
            }
        }
        REQUIRE(set.next_cyclic(from) == expected);
        REQUIRE(set.contains(g) == in[g]);
    }
}
