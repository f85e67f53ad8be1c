// vmxprobe: the hypervisor's own instructions, and hypercalls with bad numbers and arguments.
// Every VMX instruction other than VMCALL must raise #UD (guest/ABI.md section 10: VMX is not
// offered to guests, as on a CPU without it); the guest's #UD handler counts and skips each one.
// Bad hypercalls must return their error codes (section 7) and change nothing. The guest prints
//   hostile_vmx: #UD N/M (names of the instructions that did not raise #UD)
//   hostile_vmx: hypercalls K/L answered as documented (...)
// then repeats the VMX instructions forever (a #UD storm; progress + 1 per round).
#include "workloads/hostile.hpp"
#include "workloads/hostile_probe.hpp"

namespace {

using metronome::abi::Hypercall;

struct Instruction {
    const char* name;
    std::uint64_t (*run)();
};

std::uint64_t region_address() {
    return workloads::scratch_page_gpa; // a VMXON/VMCS region would be one page
}

// Each runs one instruction under the probe and returns the vector it raised (or no_fault).
#define VMX_PROBE(function, text, ...)                                                             \
    std::uint64_t function() {                                                                     \
        std::uint64_t address = region_address();                                                  \
        std::uint64_t field = 0x4402; /* exit reason */                                            \
        HOSTILE_PROBE(text, : [m] "m"(address), [r] "r"(field) : "rax", "r11", "memory", "cc");    \
        return workloads::probe::result();                                                         \
    }

VMX_PROBE(run_vmxon, "vmxon %[m]")
VMX_PROBE(run_vmxoff, "vmxoff")
VMX_PROBE(run_vmclear, "vmclear %[m]")
VMX_PROBE(run_vmptrld, "vmptrld %[m]")
VMX_PROBE(run_vmptrst, "vmptrst %[m]")
VMX_PROBE(run_vmread, "vmread %[r], %[m]")
VMX_PROBE(run_vmwrite, "vmwrite %[m], %[r]")
VMX_PROBE(run_vmlaunch, "vmlaunch")
VMX_PROBE(run_vmresume, "vmresume")
VMX_PROBE(run_invept, "invept %[m], %[r]")
VMX_PROBE(run_invvpid, "invvpid %[m], %[r]")
VMX_PROBE(run_vmfunc, "xor %%eax, %%eax; vmfunc")
VMX_PROBE(run_getsec, "xor %%eax, %%eax; getsec")

constexpr Instruction instructions[] = {
    {"vmxon", run_vmxon},     {"vmxoff", run_vmxoff},     {"vmclear", run_vmclear},
    {"vmptrld", run_vmptrld}, {"vmptrst", run_vmptrst},   {"vmread", run_vmread},
    {"vmwrite", run_vmwrite}, {"vmlaunch", run_vmlaunch}, {"vmresume", run_vmresume},
    {"invept", run_invept},   {"invvpid", run_invvpid},   {"vmfunc", run_vmfunc},
    {"getsec", run_getsec},
};
constexpr unsigned instruction_count = sizeof instructions / sizeof instructions[0];

// Raw VMCALL: every register but RAX must come back unchanged.
struct Call {
    std::uint64_t rax, rbx, rcx, rdx;
};
Call vmcall(std::uint64_t rax, std::uint64_t rbx, std::uint64_t rcx, std::uint64_t rdx) {
    Call c{rax, rbx, rcx, rdx};
    asm volatile("vmcall" : "+a"(c.rax), "+b"(c.rbx), "+c"(c.rcx), "+d"(c.rdx)::"memory");
    return c;
}

struct BadCall {
    const char* name;
    std::uint64_t rax, rbx, rcx, rdx, expected;
};

} // namespace

void workloads::hostile_vmx(const StartInfo& info) {
    probe::install();
    unsigned ud = 0;
    guest::print("vmxprobe: started; #UD expected from:");
    for (const Instruction& i : instructions) {
        guest::print_char(' ');
        guest::print(i.name);
    }
    guest::print_char('\n');
    guest::console_flush();
    char missing[160] = {};
    unsigned used = 0;
    for (const Instruction& i : instructions) {
        if (i.run() == 6) {
            ++ud;
            continue;
        }
        for (const char* c = i.name; *c != '\0' && used + 2 < sizeof missing; ++c)
            missing[used++] = *c;
        missing[used++] = ' ';
    }
    guest::print("vmxprobe: #UD ");
    guest::print_dec(ud);
    guest::print_char('/');
    guest::print_dec(instruction_count);
    guest::print(" (without #UD: ");
    guest::print(used == 0 ? "none" : missing);
    guest::console_line(")");

    const std::uint64_t size = info.memory_size;
    constexpr std::uint64_t unknown = metronome::abi::hypercall_unknown;
    constexpr std::uint64_t bad = metronome::abi::hypercall_bad_argument;
    const auto write = static_cast<std::uint64_t>(Hypercall::console_write);
    const BadCall calls[] = {
        {"number 4", 4, 1, 2, 3, unknown},
        {"number 2^63", 1ull << 63, 0, 0, 0, unknown},
        {"number -1", ~0ull, 0, 0, 0, unknown},
        {"write above memory", write, size, 16, 0, bad},
        {"write across the end", write, size - 8, 16, 0, bad},
        {"write at 0x7000000", write, 0x700'0000, 16, 0, bad},
        {"write with a wrapping range", write, ~0ull - 7, 16, 0, bad},
        {"write of 4097 bytes", write, 0x10000, 4097, 0, bad},
        {"write of 2^64-1 bytes", write, 0x10000, ~0ull, 0, bad},
    };
    unsigned right = 0;
    for (const BadCall& b : calls) {
        const Call r = vmcall(b.rax, b.rbx, b.rcx, b.rdx);
        if (r.rax == b.expected && r.rbx == b.rbx && r.rcx == b.rcx && r.rdx == b.rdx) {
            ++right;
        } else {
            guest::print("vmxprobe: hypercall ");
            guest::print(b.name);
            guest::print(" returned ");
            guest::print_hex(r.rax);
            guest::print_char('\n');
        }
    }
    guest::print("vmxprobe: hypercalls ");
    guest::print_dec(right);
    guest::print_char('/');
    guest::print_dec(sizeof calls / sizeof calls[0]);
    guest::console_line(" answered as documented");
    guest::enable_ticks();
    for (;;) {
        for (const Instruction& i : instructions)
            i.run();
        guest::progress_inc();
    }
}
