// storm: one kind of VM exit in a tight loop, chosen by `param`; progress + 1 per exit
// caused. The hypervisor's work for these exits must come out of the storming guest's own slices,
// never a neighbour's (the exits neither extend nor restart a slice).
//   0 CPUID                  1 VMCALL with an unknown number   2 IN from port 0x80
//   3 OUT to port 0x80       4 RDMSR IA32_FEATURE_CONTROL (#GP, caught)
//   5 WRMSR IA32_TSC_ADJUST (#GP, caught)                      6 XSETBV of the current XCR0
//   7 STI; HLT (with yield_on_hlt = 1 and a tick: one HLT exit per tick)
//   8 MOV to CR8             9 INVD (WBINVD does not exit: "WBINVD exiting" is off)
//   10 VMREAD (#UD, caught)
//   11 REP INSB of 4096 bytes from port 0x80 (one exit handles 4096 elements)
//   12 REP OUTSB of 4096 bytes to port 0x80
//   13 console lines: 120-byte lines through hypercall 2 as fast as it can
//   14 all of 0-6 and 8-12 in turn
//   15 console flood: 4096-byte writes (64 lines of 64 bytes) through hypercall 2 as fast as it can
#include "workloads/hostile.hpp"
#include "workloads/hostile_probe.hpp"

namespace {


void one(std::uint64_t kind) {
    switch (kind) {
    case 0:
        guest::cpuid(0);
        break;
    case 1: {
        std::uint64_t rax = 7;
        asm volatile("vmcall" : "+a"(rax)::"memory");
        break;
    }
    case 2: {
        std::uint8_t v;
        asm volatile("inb $0x80, %0" : "=a"(v));
        break;
    }
    case 3:
        asm volatile("outb %0, $0x80" ::"a"(std::uint8_t{0}));
        break;
    case 4:
        HOSTILE_PROBE("rdmsr", : "c"(0x3a) : "rax", "rdx", "r11", "memory");
        break;
    case 5:
        HOSTILE_PROBE("wrmsr", : "c"(0x3b), "a"(0), "d"(0) : "r11", "memory");
        break;
    case 6: {
        std::uint32_t lo, hi;
        asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        asm volatile("xsetbv" ::"a"(lo), "d"(hi), "c"(0) : "memory");
        break;
    }
    case 7:
        guest::sti_hlt();
        break;
    case 8:
        asm volatile("mov %0, %%cr8" ::"r"(std::uint64_t{0}) : "memory");
        break;
    case 9:
        asm volatile("invd" ::: "memory");
        break;
    case 10: {
        std::uint64_t field = 0x4402, value = 0;
        HOSTILE_PROBE("vmread %[f], %[v]", : [f] "r"(field), [v] "m"(value) : "r11", "memory");
        break;
    }
    case 11: {
        void* dst = workloads::scratch_page();
        std::uint64_t count = workloads::scratch_page_size;
        asm volatile("rep insb" : "+D"(dst), "+c"(count) : "d"(std::uint16_t{0x80}) : "memory");
        break;
    }
    case 12: {
        const void* src = workloads::scratch_page();
        std::uint64_t count = workloads::scratch_page_size;
        asm volatile("rep outsb" : "+S"(src), "+c"(count) : "d"(std::uint16_t{0x80}) : "memory");
        break;
    }
    case 13: {
        static char line[121];
        for (unsigned i = 0; i < 119; ++i)
            line[i] = static_cast<char>('a' + i % 26);
        line[119] = '\n';
        guest::hypercall(metronome::abi::Hypercall::console_write,
                         reinterpret_cast<std::uint64_t>(line), 120);
        break;
    }
    case 15: {
        // The scratch page as 64 lines of 63 printable bytes and a newline.
        char* text = reinterpret_cast<char*>(workloads::scratch_page());
        for (unsigned i = 0; i < workloads::scratch_page_size; ++i)
            text[i] = i % 64 == 63 ? '\n' : static_cast<char>('A' + i % 26);
        guest::hypercall(metronome::abi::Hypercall::console_write,
                         reinterpret_cast<std::uint64_t>(text), workloads::scratch_page_size);
        break;
    }
    default:
        break;
    }
}

} // namespace

void workloads::hostile_storm(const StartInfo& info) {
    const std::uint64_t kind = info.param;
    if (kind > 15) {
        guest::console_line("storm: param must be 0..15");
        guest::powerdown(2);
    }
    probe::install();
    guest::print("storm: kind ");
    guest::print_dec(kind);
    guest::console_line(" started");
    guest::enable_ticks();
    if (kind == 14) {
        for (;;) {
            for (std::uint64_t k = 0; k <= 12; ++k) {
                if (k == 7) continue;
                one(k);
                guest::progress_inc();
            }
        }
    }
    for (;;) {
        one(kind);
        guest::progress_inc();
    }
}
