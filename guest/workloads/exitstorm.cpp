// exitstorm: CPUID in a tight loop; CPUID always exits to the hypervisor, so every iteration is
// one VM exit. progress + 1 per iteration.
#include "workloads/workloads.hpp"

void workloads::exitstorm(const StartInfo&) {
    guest::console_line("exitstorm: started, one CPUID exit per iteration");
    guest::enable_ticks();
    for (;;) {
        guest::cpuid(0);
        guest::progress_inc();
    }
}
