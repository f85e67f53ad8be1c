// idle: mostly halted. On each tick, `param` rounds of arithmetic (default 2,000), progress + 1,
// then HLT until the next tick. Without a tick it halts for good.
#include "workloads/workloads.hpp"

void workloads::idle(const StartInfo& info) {
    if (!guest::has_tick()) {
        guest::console_line("idle: no tick (tick_hz = 0): halting for good");
        guest::idle_forever();
    }
    const std::uint64_t rounds = info.param != 0 ? info.param : 2000;
    guest::print("idle: started, ");
    guest::print_dec(rounds);
    guest::print(" rounds of work per tick at ");
    guest::print_dec(info.tick_hz);
    guest::console_line(" Hz");
    for (;;) {
        guest::wait_for_tick();
        guest::busy_work(rounds);
        guest::progress_inc();
    }
}
