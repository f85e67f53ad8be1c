// clihlt: `cli; hlt` forever. With interrupts off nothing can wake it (there are no NMIs
// for guests), so it must cost the other guests nothing beyond what its policy gives it: under
// `fixed` its slot (idle or halted inside it), under `shared` and `capped` with yield_on_hlt = 0
// its turns halted in guest mode, with yield_on_hlt = 1 nothing at all.
#include "workloads/hostile.hpp"

void workloads::hostile_halt(const StartInfo&) {
    guest::console_line("clihlt: cli; hlt forever");
    guest::console_flush();
    asm volatile("cli\n1:\thlt\n\tjmp 1b" ::: "memory");
    __builtin_unreachable();
}
