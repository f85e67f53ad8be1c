// vmexit: exit round trips, measured from inside the guest the way kvm-unit-tests' x86/vmexit
// does: the TSC around `param` iterations (default 1000) of one instruction that exits, and the
// same loop around an instruction that does not, so the difference per iteration is the cost of
// leaving guest mode, the hypervisor's work, and coming back. Each loop runs `repetitions` times;
// the tool uses the best repetition (the one no slice boundary fell into) and prints the worst
// beside it. Then the guest powers down (code 0).
//
// Lines (one per loop, parsed by tools/metronome_tool/bench.py):
//   vmexit: KIND n=N reps=R best=TICKS worst=TICKS
// KIND: nop (the native baseline), cpuid (leaf 0), vmcall (an unknown hypercall number: answered
// with "unknown", the cheapest hypercall), inb (port 0x80: no device, reads all ones), rdmsr
// (IA32_APIC_BASE, which Metronome does not pass through: it exits and the hypervisor injects
// #GP(0), which a handler installed here skips), gp_native (a #GP raised in the guest without an
// exit — a load from a non-canonical address, skipped by the same handler: rdmsr's native cost).
#include "workloads/workloads.hpp"

extern "C" void vmexit_skip_gp();

// #GP handler for the measured loops: drop the error code and step over the 2-byte faulting
// instruction (RDMSR is 0F 32; the non-canonical load below is 8B 00).
asm(R"(
    .text
    .globl vmexit_skip_gp
    .type vmexit_skip_gp, @function
vmexit_skip_gp:
    addq $8, %rsp
    addq $2, (%rsp)
    iretq
    .size vmexit_skip_gp, . - vmexit_skip_gp
)");

namespace {

constexpr std::uint64_t repetitions = 8;
constexpr std::uint8_t gp_vector = 13;
constexpr std::uint32_t ia32_apic_base = 0x1b;
constexpr std::uint16_t unused_port = 0x80;
constexpr std::uint64_t unknown_hypercall = 0x7fff;
constexpr std::uint64_t non_canonical = 0x8000000000000000ull;

struct [[gnu::packed]] TableRegister {
    std::uint16_t limit;
    std::uint64_t base;
};

struct Gate {
    std::uint16_t offset_low;
    std::uint16_t selector;
    std::uint8_t ist;
    std::uint8_t type_attributes;
    std::uint16_t offset_mid;
    std::uint32_t offset_high;
    std::uint32_t reserved;
};

volatile Gate* gp_gate() {
    TableRegister idtr{};
    asm volatile("sidt %0" : "=m"(idtr));
    return reinterpret_cast<volatile Gate*>(idtr.base) + gp_vector;
}

// Points the #GP gate at `handler`, keeping its selector, IST and type.
void set_gp_handler(std::uint64_t handler) {
    volatile Gate* gate = gp_gate();
    gate->offset_low = static_cast<std::uint16_t>(handler);
    gate->offset_mid = static_cast<std::uint16_t>(handler >> 16);
    gate->offset_high = static_cast<std::uint32_t>(handler >> 32);
}

std::uint64_t gp_handler() {
    const volatile Gate* gate = gp_gate();
    return std::uint64_t{gate->offset_low} | (std::uint64_t{gate->offset_mid} << 16) |
           (std::uint64_t{gate->offset_high} << 32);
}

template <typename Op> void measure(const char* kind, std::uint64_t n, Op op) {
    std::uint64_t best = ~0ull, worst = 0;
    for (std::uint64_t r = 0; r < repetitions; ++r) {
        const std::uint64_t start = guest::rdtsc();
        for (std::uint64_t i = 0; i < n; ++i) op();
        const std::uint64_t ticks = guest::rdtsc() - start;
        if (ticks < best) best = ticks;
        if (ticks > worst) worst = ticks;
    }
    guest::print("vmexit: ");
    guest::print(kind);
    guest::print(" n=");
    guest::print_dec(n);
    guest::print(" reps=");
    guest::print_dec(repetitions);
    guest::print(" best=");
    guest::print_dec(best);
    guest::print(" worst=");
    guest::print_dec(worst);
    guest::print_char('\n');
}

} // namespace

void workloads::vmexit(const StartInfo& info) {
    const std::uint64_t n = info.param != 0 ? info.param : 1000;
    guest::console_line("vmexit: started; ticks of n iterations, best and worst of reps");
    measure("nop", n, [] { asm volatile("nop"); });
    measure("cpuid", n, [] {
        std::uint32_t a = 0, b, c = 0, d;
        asm volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    });
    measure("vmcall", n, [] {
        std::uint64_t a = unknown_hypercall;
        asm volatile("vmcall" : "+a"(a) : : "memory");
    });
    measure("inb", n, [] {
        std::uint8_t v;
        asm volatile("inb %1, %0" : "=a"(v) : "Nd"(unused_port));
    });
    const std::uint64_t saved = gp_handler();
    set_gp_handler(reinterpret_cast<std::uint64_t>(&vmexit_skip_gp));
    measure("rdmsr", n, [] { asm volatile("rdmsr" : : "c"(ia32_apic_base) : "rax", "rdx", "memory"); });
    measure("gp_native", n, [] {
        asm volatile(".byte 0x8b, 0x00" : : "a"(non_canonical) : "memory"); // mov (%rax), %eax
    });
    set_gp_handler(saved);
    guest::console_flush();
    guest::powerdown(0);
}
