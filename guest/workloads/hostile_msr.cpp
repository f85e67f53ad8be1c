// privprobe: writes to control registers and MSRs that belong to the host, INVD, WBINVD and
// invalid XSETBVs. Each probe has the answer guest/ABI.md section 10 promises: MSRs outside the
// set switched per guest raise #GP (reads and writes), as on a CPU without them, and so does
// RDPMC (there are no performance counters for guests); setting
// CR4.VMXE, clearing CR4.PAE or CR0.PG raise #GP; INVD and WBINVD do nothing (the host's caches
// are not the guest's to discard); XSETBV of an invalid value or register raises #GP. EFER is
// switched by the VMCS: the guest reads and writes its own copy. The guest prints one line per
// unexpected answer, then
//   hostile_msr: N/M answered as expected
// and repeats the probes forever (an exit storm of RDMSR/WRMSR/CR/XSETBV/INVD; progress + 1 per
// round).
#include "workloads/hostile.hpp"
#include "workloads/hostile_probe.hpp"

namespace {

using workloads::probe::no_fault;
constexpr std::uint64_t gp = 13, ud = 6;

std::uint64_t rdmsr(std::uint32_t msr, std::uint64_t* value = nullptr) {
    std::uint32_t lo = 0, hi = 0;
    asm volatile("xor %%eax, %%eax; xor %%edx, %%edx" : "=a"(lo), "=d"(hi));
    HOSTILE_PROBE("rdmsr; mov %%eax, %[lo]; mov %%edx, %[hi]", , [lo] "=m"(lo), [hi] "=m"(hi)
                  : "c"(msr)
                  : "rax", "rdx", "r11", "memory");
    if (value != nullptr) *value = (std::uint64_t{hi} << 32) | lo;
    return workloads::probe::result();
}

std::uint64_t wrmsr(std::uint32_t msr, std::uint64_t value) {
    HOSTILE_PROBE("wrmsr",
                  : "c"(msr), "a"(static_cast<std::uint32_t>(value)),
                    "d"(static_cast<std::uint32_t>(value >> 32))
                  : "r11", "memory");
    return workloads::probe::result();
}

std::uint64_t read_cr0() {
    std::uint64_t v;
    asm volatile("mov %%cr0, %0" : "=r"(v));
    return v;
}
std::uint64_t read_cr4() {
    std::uint64_t v;
    asm volatile("mov %%cr4, %0" : "=r"(v));
    return v;
}
std::uint64_t write_cr0(std::uint64_t v) {
    HOSTILE_PROBE("mov %[v], %%cr0", : [v] "r"(v) : "r11", "memory");
    return workloads::probe::result();
}
std::uint64_t write_cr4(std::uint64_t v) {
    HOSTILE_PROBE("mov %[v], %%cr4", : [v] "r"(v) : "r11", "memory");
    return workloads::probe::result();
}
std::uint64_t xsetbv(std::uint32_t xcr, std::uint64_t v) {
    HOSTILE_PROBE("xsetbv",
                  : "c"(xcr), "a"(static_cast<std::uint32_t>(v)),
                    "d"(static_cast<std::uint32_t>(v >> 32))
                  : "r11", "memory");
    return workloads::probe::result();
}
std::uint64_t xgetbv0() {
    std::uint32_t lo, hi;
    asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (std::uint64_t{hi} << 32) | lo;
}

const char* vector_name(std::uint64_t v) {
    return v == no_fault ? "no fault" : v == gp ? "#GP" : v == ud ? "#UD" : "another exception";
}

struct Tally {
    unsigned right = 0, total = 0;
    bool loud = true; // print mismatches (first round only)
    void expect(const char* what, std::uint64_t got, std::uint64_t expected) {
        ++total;
        if (got == expected) {
            ++right;
            return;
        }
        if (!loud) return;
        guest::print("privprobe: ");
        guest::print(what);
        guest::print(": ");
        guest::print(vector_name(got));
        guest::print(", expected ");
        guest::print(vector_name(expected));
        guest::print_char('\n');
    }
    void check(const char* what, bool ok) {
        ++total;
        if (ok) {
            ++right;
        } else if (loud) {
            guest::print("privprobe: ");
            guest::console_line(what);
        }
    }
};

constexpr std::uint64_t cr4_pae = 1u << 5, cr4_vmxe = 1u << 13, cr4_osxsave = 1u << 18;
constexpr std::uint64_t cr0_pg = 1ull << 31;
constexpr std::uint64_t efer_sce = 1;

void probe_all(Tally& t) {
    const std::uint64_t cr4 = read_cr4();
    t.check("CR4 reads VMXE set", (cr4 & cr4_vmxe) == 0);
    t.expect("mov to CR4 setting VMXE", write_cr4(cr4 | cr4_vmxe), gp);
    t.expect("mov to CR4 clearing PAE", write_cr4(cr4 & ~cr4_pae), gp);
    t.check("CR4 changed by refused writes", read_cr4() == cr4);
    t.expect("mov to CR0 clearing PG", write_cr0(read_cr0() & ~cr0_pg), gp);

    // The MSRs below raise #GP, so CPUID must not announce what they belong to.
    const guest::Cpuid one = guest::cpuid(1);
    t.check("CPUID announces a local APIC, x2APIC or the TSC-deadline timer",
            (one.edx & (1u << 9)) == 0 && (one.ecx & ((1u << 21) | (1u << 24))) == 0);
    t.check("CPUID announces IA32_TSC_ADJUST", (guest::cpuid(7, 0).ebx & 2u) == 0);
    std::uint64_t value = 0;
    t.expect("rdmsr IA32_FEATURE_CONTROL", rdmsr(0x3a), gp);
    t.expect("wrmsr IA32_FEATURE_CONTROL", wrmsr(0x3a, 0), gp);
    t.expect("rdmsr IA32_APIC_BASE", rdmsr(0x1b), gp);
    t.expect("wrmsr IA32_APIC_BASE", wrmsr(0x1b, 0xfee00000), gp);
    t.expect("rdmsr IA32_TSC_ADJUST", rdmsr(0x3b), gp);
    t.expect("wrmsr IA32_TSC_ADJUST", wrmsr(0x3b, 1ull << 40), gp);
    t.expect("wrmsr IA32_TSC_DEADLINE", wrmsr(0x6e0, 1), gp);
    t.expect("wrmsr IA32_DEBUGCTL", wrmsr(0x1d9, 1), gp);
    t.expect("wrmsr IA32_MTRR_DEF_TYPE", wrmsr(0x2ff, 0), gp);
    t.expect("wrmsr IA32_VMX_BASIC", wrmsr(0x480, 0), gp);
    t.expect("rdmsr 0x12345678 (no such MSR)", rdmsr(0x1234'5678), gp);
    const std::uint64_t before = guest::rdtsc();
    t.expect("rdmsr IA32_TSC", rdmsr(0x10, &value), no_fault);
    t.check("IA32_TSC reads below RDTSC", value >= before);
    t.expect("wrmsr IA32_TSC", wrmsr(0x10, 0), gp);
    t.check("the TSC went back after wrmsr IA32_TSC", guest::rdtsc() > value);

    // EFER is the guest's own (loaded and saved with the VMCS): clearing SCE is its business.
    std::uint64_t efer = 0, cleared = 0, again = 0;
    t.expect("rdmsr IA32_EFER", rdmsr(0xc0000080, &efer), no_fault);
    t.expect("wrmsr IA32_EFER without SCE", wrmsr(0xc0000080, efer & ~efer_sce), no_fault);
    rdmsr(0xc0000080, &cleared);
    t.expect("wrmsr IA32_EFER back", wrmsr(0xc0000080, efer), no_fault);
    rdmsr(0xc0000080, &again);
    t.check("EFER reads back what the guest wrote", cleared == (efer & ~efer_sce) && again == efer);

    // No performance counters: CPUID says so, and RDPMC of any counter is #GP (it would read the
    // host's and the other guests' counts).
    t.check("CPUID leaf 0xA announces a PMU", guest::cpuid(0xa).eax == 0 && guest::cpuid(0xa).edx == 0);
    HOSTILE_PROBE("rdpmc", : "c"(0) : "rax", "rdx", "r11", "memory");
    t.expect("rdpmc counter 0", workloads::probe::result(), gp);
    HOSTILE_PROBE("rdpmc", : "c"(0x40000000) : "rax", "rdx", "r11", "memory");
    t.expect("rdpmc fixed counter 0", workloads::probe::result(), gp);

    // INVD/WBINVD are skipped: a store before them must still be there.
    static volatile std::uint64_t cell;
    cell = 0xC0FFEE;
    HOSTILE_PROBE("invd", : : "r11", "memory");
    t.expect("invd", workloads::probe::result(), no_fault);
    HOSTILE_PROBE("wbinvd", : : "r11", "memory");
    t.expect("wbinvd", workloads::probe::result(), no_fault);
    t.check("a store before INVD was lost", cell == 0xC0FFEE);

    // CR8 (TPR): writes are ignored, reads give 0 (no virtual APIC).
    std::uint64_t cr8 = 15;
    HOSTILE_PROBE("mov %[v], %%cr8", : [v] "r"(cr8) : "r11", "memory");
    t.expect("mov to CR8", workloads::probe::result(), no_fault);
    asm volatile("mov %%cr8, %0" : "=r"(cr8));
    t.check("CR8 reads back a value written", cr8 == 0);

    if ((cr4 & cr4_osxsave) == 0) {
        t.expect("xsetbv without CR4.OSXSAVE", xsetbv(0, 1), ud);
        return;
    }
    const std::uint64_t xcr0 = xgetbv0();
    t.expect("xsetbv XCR1", xsetbv(1, 1), gp);
    t.expect("xsetbv XCR0 = 0 (x87 off)", xsetbv(0, 0), gp);
    t.expect("xsetbv XCR0 with AVX but no SSE", xsetbv(0, 5), gp);
    t.expect("xsetbv XCR0 with bit 62", xsetbv(0, (1ull << 62) | 3), gp);
    t.expect("xsetbv XCR0 with AVX-512 but no AVX", xsetbv(0, 0xe3), gp);
    t.expect("xsetbv XCR0 unchanged", xsetbv(0, xcr0), no_fault);
    t.check("XCR0 changed by refused writes", xgetbv0() == xcr0);
}

} // namespace

void workloads::hostile_msr(const StartInfo&) {
    probe::install();
    guest::console_line("privprobe: started");
    Tally first;
    probe_all(first);
    guest::print("privprobe: ");
    guest::print_dec(first.right);
    guest::print_char('/');
    guest::print_dec(first.total);
    guest::console_line(" answered as expected");
    guest::enable_ticks();
    for (;;) {
        Tally t;
        t.loud = false;
        probe_all(t);
        guest::progress_inc();
    }
}
