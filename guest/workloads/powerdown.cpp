// powerdown: spins for a while (see work_then_stop), then powers down with code 0. Also home of
// work_then_stop, which crash shares.
#include "workloads/workloads.hpp"

void workloads::work_then_stop(const StartInfo& info, const char* who, std::uint64_t default_ticks,
                               std::uint64_t default_iterations) {
    guest::print(who);
    if (guest::has_tick()) {
        const std::uint64_t target = info.param != 0 ? info.param : default_ticks;
        guest::print_dec(target);
        guest::console_line(" ticks");
        guest::sti();
        while (guest::ticks() < target)
            guest::progress_inc();
        return;
    }
    const std::uint64_t iterations = info.param != 0 ? info.param : default_iterations;
    guest::print_dec(iterations);
    guest::console_line(" iterations");
    for (std::uint64_t i = 0; i < iterations; ++i)
        guest::progress_inc();
}

void workloads::powerdown(const StartInfo& info) {
    work_then_stop(info, "powerdown: started, powering down after ", 10, 50'000'000);
    guest::console_line("powerdown: powering down (code 0)");
    guest::powerdown(0);
}
