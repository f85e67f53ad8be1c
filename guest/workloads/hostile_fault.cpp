// faultloop: exceptions that never end, and one that cannot be delivered. None of them
// exits to the hypervisor (the exception bitmap is empty: a guest's faults are its own), so the
// guest just burns its own time; only the triple fault reaches the hypervisor, which stops the
// guest ("triple fault").
//   param 0: #PF loop — a read of an unmapped address; the #PF handler returns to it unchanged.
//   param 1: #DF loop — the same read with the #PF gate marked not present: delivering #PF
//            raises #NP, a contributory fault, so the CPU raises #DF; the #DF handler returns to
//            the read again.
//   param 2: triple fault — as param 1 with the #DF gate not present too.
// progress + 1 per exception handled.
#include "workloads/hostile.hpp"

namespace {

constexpr std::uint64_t unmapped = 0x80'0000'0000; // 512 GiB: PML4[1], not present
std::uint64_t g_fault_rip = 0;

bool count_and_retry(guest::ExceptionFrame& frame) {
    guest::progress_inc();
    frame.rip = g_fault_rip; // #DF's saved RIP is undefined (SDM "Interrupt 8"): set it
    return true;
}

void mark_gate_not_present(unsigned vector) {
    struct [[gnu::packed]] {
        std::uint16_t limit;
        std::uint64_t base;
    } idtr{};
    asm volatile("sidt %0" : "=m"(idtr));
    auto* type = reinterpret_cast<volatile std::uint8_t*>(idtr.base + 16 * vector + 5);
    *type = static_cast<std::uint8_t>(*type & 0x7f);
}

[[noreturn]] void read_forever() {
    asm volatile("leaq 1f(%%rip), %%rax\n\t"
                 "movq %%rax, %[rip]\n"
                 "1:\tmovq (%[at]), %%rax\n\t"
                 "jmp 1b"
                 : [rip] "=m"(g_fault_rip)
                 : [at] "r"(unmapped)
                 : "rax", "memory");
    __builtin_unreachable();
}

} // namespace

void workloads::hostile_fault(const StartInfo& info) {
    switch (info.param) {
    case 0:
        guest::console_line("faultloop: #PF loop");
        guest::set_exception_handler(14, count_and_retry);
        break;
    case 1:
        guest::console_line("faultloop: #DF loop (#PF gate not present)");
        mark_gate_not_present(14);
        guest::set_exception_handler(8, count_and_retry);
        break;
    case 2:
        guest::console_line("faultloop: triple fault (#PF and #DF gates not present)");
        mark_gate_not_present(14);
        mark_gate_not_present(8);
        break;
    default:
        guest::console_line("faultloop: param must be 0, 1 or 2");
        guest::powerdown(2);
    }
    guest::console_flush();
    read_forever();
}
