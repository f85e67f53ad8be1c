// The capacity a guest reads from CPUID 0x40000001..3 (vmx/sched/capacity.hpp), computed from a parsed
// configuration and an initialised scheduler, under each policy.
#include "vmx/sched/capacity.hpp"
#include "vmx/lib/text.hpp"

#include <doctest/doctest.h>

#include <string>

namespace {

vmx::Config g_config; // large (64 guests): static, as on the target
vmx::Scheduler g_scheduler;
vmx::GuestParams g_params[vmx::max_guests];

// Parses `text` and initialises the scheduler as the session does, at a 1 GHz TSC.
void load(const std::string& text) {
    const vmx::ConfigResult r = vmx::load_config(text.data(), text.size(), nullptr, 0, g_config);
    vmx::FixedText<512> error;
    vmx::format_config_error(r, "metronome.cfg", error);
    INFO(std::string(error.c_str()));
    REQUIRE(r.ok);
    vmx::SchedParams sp;
    sp.policy = g_config.policy;
    sp.on_guest_exit = g_config.on_guest_exit;
    for (unsigned i = 0; i < g_config.guest_count; ++i) {
        const vmx::GuestConfig& gc = g_config.guests[i];
        g_params[i] = vmx::GuestParams{};
        g_params[i].slice_ticks = std::uint64_t{gc.slice_us} * 1000;
        g_params[i].yield_on_hlt = gc.yield_on_hlt;
        g_params[i].cap_percent = g_config.policy == vmx::Policy::capped ? gc.cap_percent : 0;
        g_params[i].cap_period_ticks = std::uint64_t{gc.period_us} * 1000;
    }
    REQUIRE(g_scheduler.init(sp, g_params, g_config.guest_count) == vmx::InitError::none);
}

// capacity_for with the busy share busy_shares_ppm gives, as the session computes them, for a
// scheduler that runs every guest of g_config in its order (one CPU).
vmx::GuestCapacity capacity(std::size_t g) {
    std::uint64_t shares[vmx::max_guests];
    vmx::busy_shares_ppm(g_scheduler, shares);
    const vmx::GuestConfig* guests[vmx::max_guests];
    for (std::size_t h = 0; h < vmx::max_guests; ++h) guests[h] = &g_config.guests[h];
    return vmx::capacity_for(g_scheduler, guests, g, g < g_scheduler.guest_count() ? shares[g] : 0);
}

std::uint32_t leaf_register(const vmx::GuestCapacity& c, std::uint32_t leaf, int reg) {
    std::uint32_t out[4];
    vmx::capacity_leaf(c, leaf, out);
    return out[reg];
}

} // namespace

TEST_CASE("capacity under fixed: the slot over the frame, reserve, HLT per guest") {
    load("policy = fixed\nslice_us = 1000\n[guest a]\nimage = spin\nslice_us = 2000\n"
         "[guest b]\nimage = spin\nyield_on_hlt = 1\n[guest c]\nimage = idle\ntick_hz = 100\n");
    const vmx::GuestCapacity a = capacity(0);
    CHECK(a.policy == vmx::capacity_policy::fixed);
    CHECK(a.share_ppm == 500000); // 2 ms of a 4 ms frame
    CHECK(a.slice_us == 2000);
    CHECK(a.frame_us == 4000);
    CHECK(a.frame_ticks == 4000000);
    CHECK(a.slice_ticks == 2000000);
    CHECK(a.guests == 3);
    CHECK(a.flags == 0); // HLT does not yield, reserve, not work-conserving
    const vmx::GuestCapacity b = capacity(1);
    CHECK(b.share_ppm == 250000);
    CHECK(b.flags == vmx::capacity_flag::hlt_yields);
    CHECK(leaf_register(b, 0x40000001, 0) == 250000);
    CHECK(leaf_register(b, 0x40000001, 1) == 1);
    CHECK(leaf_register(b, 0x40000002, 1) == 4000);
    CHECK(leaf_register(b, 0x40000003, 2) == 4000000);
    CHECK(leaf_register(b, 0x40000004, 0) == 0);
    CHECK(capacity(3).policy == vmx::capacity_policy::unknown);
}

TEST_CASE("capacity under shared: one in N, no frame, reclaim and work-conserving") {
    load("policy = shared\n[guest a]\nimage = spin\n[guest b]\nimage = spin\n[guest c]\nimage = spin\n");
    const vmx::GuestCapacity c = capacity(2);
    CHECK(c.policy == vmx::capacity_policy::shared);
    CHECK(c.share_ppm == 333333);
    CHECK(c.frame_us == 0);
    CHECK(c.frame_ticks == 0);
    CHECK(c.period_us == 0);
    CHECK(c.flags == (vmx::capacity_flag::reclaim | vmx::capacity_flag::work_conserving));
}

TEST_CASE("capacity under capped: the cap when below the fair share, with its period") {
    load("policy = capped\nperiod_us = 20000\n[guest a]\nimage = spin\ncap_percent = 25\n"
         "[guest b]\nimage = spin\ncap_percent = 80\n");
    const vmx::GuestCapacity a = capacity(0);
    CHECK(a.policy == vmx::capacity_policy::capped);
    CHECK(a.period_us == 20000);
    CHECK(a.cap_percent == 25);
    CHECK(leaf_register(a, 0x40000002, 2) == 20000);
    CHECK(leaf_register(a, 0x40000002, 3) == 25);
    const vmx::GuestCapacity b = capacity(1);
    // a is held to its 25%; b may have 80%, and takes the 75% a leaves: the scheduler itself,
    // run on spinning guests, says so (to within the partial period at the end of that run).
    CHECK(a.share_ppm >= 249000);
    CHECK(a.share_ppm <= 251000);
    CHECK(b.share_ppm >= 749000);
    CHECK(b.share_ppm <= 751000);
}

TEST_CASE("capacity under shared with a slice per guest: each slice over the sum of the slices") {
    // Round robin gives every busy guest its own slice each round (not 1/N each).
    load("policy = shared\n[guest a]\nimage = spin\nslice_us = 777\n[guest b]\nimage = spin\n"
         "slice_us = 1500\n[guest c]\nimage = spin\nslice_us = 250\n[guest d]\nimage = spin\n"
         "slice_us = 1000\n[guest e]\nimage = spin\nslice_us = 333\n");
    const std::uint64_t sum = 777 + 1500 + 250 + 1000 + 333;
    const std::uint64_t slices[] = {777, 1500, 250, 1000, 333};
    for (std::size_t g = 0; g < 5; ++g) {
        CAPTURE(g);
        CHECK(capacity(g).share_ppm == slices[g] * 1000000 / sum);
    }
    CHECK(capacity(1).share_ppm == 388601); // 38.86%, not the 20% that 1/N would say
}
