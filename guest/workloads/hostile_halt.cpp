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

// tfhlt: single-steps itself through a halt loop. RFLAGS.TF = 1, its own #DB handler counts the
// steps (every instruction traps natively, no exit); each wake-up from HLT is one unit of
// progress. param 0: `sti; hlt`; param 1: `sti; nop; hlt`. Halting with TF set leaves a
// single-step trap pending across the halt (SDM "Checks on Guest Non-Register State"): the
// hypervisor must still wake it for every tick, as it does a guest without TF.
namespace {

volatile std::uint64_t g_single_steps = 0;

bool count_single_step(guest::ExceptionFrame&) {
    g_single_steps = g_single_steps + 1;
    return true;
}

} // namespace

void workloads::hostile_step_halt(const StartInfo& info) {
    guest::set_exception_handler(1, count_single_step); // #DB
    guest::print(info.param == 0 ? "tfhlt: single-stepping sti; hlt" : "tfhlt: single-stepping sti; nop; hlt");
    guest::print(guest::has_tick() ? "" : " (no tick: halts for good)");
    guest::print_char('\n');
    guest::console_flush();
    asm volatile("pushfq\n\torq $0x100, (%%rsp)\n\tpopfq" ::: "memory", "cc");
    for (;;) {
        if (info.param == 0) {
            asm volatile("sti\n\thlt" ::: "memory");
        } else {
            asm volatile("sti\n\tnop\n\thlt" ::: "memory");
        }
        guest::progress_inc();
    }
}
