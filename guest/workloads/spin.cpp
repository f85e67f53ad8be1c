// spin: CPU-bound, never stops. progress + 1 per iteration; a console line every `param`
// iterations (default 2^26: rare, since every line costs an exit).
#include "workloads/workloads.hpp"

void workloads::spin(const StartInfo& info) {
    const std::uint64_t every = info.param != 0 ? info.param : std::uint64_t{1} << 26;
    guest::print("spin: started, a line every ");
    guest::print_dec(every);
    guest::console_line(" iterations");
    guest::enable_ticks();
    std::uint64_t left = every;
    for (std::uint64_t done = 1;; ++done) {
        guest::progress_inc();
        if (--left == 0) {
            left = every;
            guest::print("spin: ");
            guest::print_dec(done);
            guest::console_line(" iterations");
        }
    }
}
