// bursty: a duty cycle. On each tick, works for `param` percent (default 5, at most 100) of a tick
// period, measured with RDTSC against the start-info tsc_hz, then halts until the next tick.
// progress + 1 per slice of work (100 rounds). Without a tick it halts for good.
#include "workloads/workloads.hpp"

void workloads::bursty(const StartInfo& info) {
    if (!guest::has_tick()) {
        guest::console_line("bursty: no tick (tick_hz = 0): halting for good");
        guest::idle_forever();
    }
    std::uint64_t percent = info.param != 0 ? info.param : 5;
    if (percent > 100) percent = 100;
    std::uint64_t tsc_hz = info.tsc_hz;
    if (tsc_hz == 0) {
        guest::console_line("bursty: tsc_hz unknown (0): assuming 1 GHz");
        tsc_hz = 1'000'000'000;
    }
    const std::uint64_t burst = tsc_hz / info.tick_hz * percent / 100;
    guest::print("bursty: started, working ");
    guest::print_dec(percent);
    guest::print("% of each tick (");
    guest::print_dec(burst);
    guest::console_line(" TSC ticks)");
    for (;;) {
        guest::wait_for_tick();
        const std::uint64_t start = guest::rdtsc();
        do {
            guest::busy_work(100);
            guest::progress_inc();
        } while (guest::rdtsc() - start < burst);
    }
}
