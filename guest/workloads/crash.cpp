// crash: spins for a while (see work_then_stop), then triple-faults on purpose.
#include "workloads/workloads.hpp"

void workloads::crash(const StartInfo& info) {
    work_then_stop(info, "crash: started, crashing after ", 10, 50'000'000);
    guest::console_line("crash: crashing now (triple fault)");
    guest::triple_fault();
}
