// A Linux guest's CPUID answers (vmx/exits/cpuid_table.hpp, build_linux_cpuid_table): the guest
// table, adjusted to describe the one processor and the platform Metronome gives a Linux guest.
#include "vmx/arch/x86.hpp"
#include "vmx/exits/cpuid_table.hpp"

namespace vmx {
namespace {

// The answers of (leaf, subleaf) in the table, to change in place; null when it holds none.
std::uint32_t* answer(CpuidTable& t, std::uint32_t leaf, std::uint32_t subleaf) {
    CpuidTable::Leaf* slot = nullptr;
    if (leaf < CpuidTable::basic_leaves) slot = &t.basic[leaf];
    if (leaf - CpuidTable::extended_first < CpuidTable::extended_leaves) slot = &t.extended[leaf - CpuidTable::extended_first];
    if (slot == nullptr || subleaf >= slot->count) return nullptr;
    return t.answers[slot->first + subleaf];
}

using Answer = std::uint32_t[4];

// Replaces every subleaf of `leaf` with `n` new answers (zeros), returned for filling; null when
// the table is full.
Answer* replace(CpuidTable& t, std::uint32_t leaf, std::uint32_t n) {
    CpuidTable::Leaf* slot = leaf < CpuidTable::basic_leaves ? &t.basic[leaf] : &t.extended[leaf - CpuidTable::extended_first];
    if (t.used + n > CpuidTable::capacity) return nullptr;
    slot->first = static_cast<std::uint16_t>(t.used);
    slot->count = static_cast<std::uint16_t>(n);
    slot->indexed = slot->indexed || leaf == 0xb || leaf == 7;
    for (std::uint32_t i = 0; i < n; ++i) {
        for (unsigned r = 0; r < 4; ++r) t.answers[t.used + i][r] = 0;
    }
    Answer* first = &t.answers[t.used];
    t.used += n;
    return first;
}

void keep_only(std::uint32_t* a, unsigned reg, std::uint32_t mask) {
    if (a != nullptr) a[reg] &= mask;
}

constexpr std::uint32_t bit(unsigned n) { return 1u << n; }
enum : unsigned { eax = 0, ebx = 1, ecx = 2, edx = 3 };

// Leaf 1 ECX: what is taken out besides the guest table's own filter (VMX, SMX, MONITOR, PDCM):
// DTES64, DS-CPL, EST, TM2, xTPR, PCID's partner... (SDM "CPUID—CPU Identification", Table
// "Feature Information Returned in the ECX Register").
constexpr std::uint32_t leaf1_ecx_removed = bit(2) | bit(4) | bit(7) | bit(8) | bit(14);
// Leaf 1 EDX: MCE, MTRR, MCA, PSN, DS, ACPI, HTT, TM, PBE.
constexpr std::uint32_t leaf1_edx_removed = bit(7) | bit(12) | bit(14) | bit(18) | bit(21) | bit(22) | bit(28) |
                                            bit(29) | bit(31);
// Leaf 7 subleaf 0, the features kept (everything else reads zero).
// EBX: FSGSBASE, BMI1, AVX2, FDP_EXCPTN_ONLY, SMEP, BMI2, ERMS, (INVPCID), FPU CS/DS deprecation,
// AVX512F/DQ, RDSEED, ADX, SMAP, AVX512_IFMA, CLFLUSHOPT, CLWB, AVX512PF/ER/CD, SHA, AVX512BW/VL.
constexpr std::uint32_t leaf7_ebx_kept = bit(0) | bit(3) | bit(5) | bit(6) | bit(7) | bit(8) | bit(9) | bit(13) |
                                         bit(16) | bit(17) | bit(18) | bit(19) | bit(20) | bit(21) | bit(23) |
                                         bit(24) | bit(26) | bit(27) | bit(28) | bit(29) | bit(30) | bit(31);
constexpr std::uint32_t leaf7_ebx_invpcid = bit(10);
// ECX: PREFETCHWT1, AVX512_VBMI, UMIP, GFNI, VAES, VPCLMULQDQ, AVX512_VNNI, AVX512_BITALG,
// AVX512_VPOPCNTDQ, (RDPID), MOVDIRI, MOVDIR64B.
constexpr std::uint32_t leaf7_ecx_kept = bit(0) | bit(1) | bit(2) | bit(8) | bit(9) | bit(10) | bit(11) | bit(12) |
                                         bit(14) | bit(27) | bit(28);
constexpr std::uint32_t leaf7_ecx_rdpid = bit(22);
// EDX: AVX512_4VNNIW, AVX512_4FMAPS, fast short REP MOV.
constexpr std::uint32_t leaf7_edx_kept = bit(2) | bit(3) | bit(4);
// Leaf 6 EAX: ARAT, the APIC timer keeps running in deep C-states (Linux then trusts it).
constexpr std::uint32_t leaf6_arat = bit(2);
// 0x80000001 EDX: SYSCALL, NX, 1-GByte pages, (RDTSCP), Intel 64; ECX: LAHF, LZCNT, PREFETCHW.
constexpr std::uint32_t ext1_edx_kept = bit(11) | bit(20) | bit(26) | bit(29);
constexpr std::uint32_t ext1_ecx_kept = bit(0) | bit(5) | bit(8);
// 0x80000007 EDX: invariant TSC.
constexpr std::uint32_t ext7_invariant_tsc = bit(8);

void one_processor_topology(CpuidTable& t) {
    // Leaf 0xB: an SMT level and a core level with one logical processor each, x2APIC ID 0, then
    // the invalid level that ends the list (SDM "Extended Topology Enumeration Leaf").
    if (Answer* b = replace(t, 0xb, 3)) {
        b[0][ebx] = 1;
        b[0][ecx] = (1u << 8) | 0;
        b[1][ebx] = 1;
        b[1][ecx] = (2u << 8) | 1;
        b[2][ecx] = 2;
    }
    replace(t, 0x1f, 0); // V2 topology: none, so Linux reads 0xB
    const CpuidTable::Leaf caches = t.basic[4];
    for (std::uint32_t s = 0; s < caches.count; ++s) t.answers[caches.first + s][eax] &= 0x3fffu; // one core, one thread per cache
}

} // namespace

void build_linux_cpuid_table(CpuidSource source, const LinuxCpuidFacts& facts, CpuidTable& t) {
    build_cpuid_table(source, t);
    if (std::uint32_t* zero = answer(t, 0, 0)) {
        if (zero[eax] < 0x16) zero[eax] = 0x16;
    }
    if (std::uint32_t* one = answer(t, 1, 0)) {
        one[ebx] = (one[ebx] & 0xffffu) | (1u << 16); // APIC ID 0, one logical processor
        // xAPIC only (vmx/devices/lapic.hpp): no x2APIC to switch to; the TSC-deadline timer.
        one[ecx] &= ~(leaf1_ecx_removed | cpuid_bit::x2apic);
        one[ecx] |= cpuid_bit::tsc_deadline;
        one[edx] &= ~leaf1_edx_removed;
        one[edx] |= cpuid_bit::apic;
    }
    if (Answer* six = replace(t, 6, 1)) six[0][eax] = leaf6_arat;
    keep_only(answer(t, 7, 0), ebx, leaf7_ebx_kept | (facts.invpcid ? leaf7_ebx_invpcid : 0));
    keep_only(answer(t, 7, 0), ecx, leaf7_ecx_kept | (facts.rdtscp ? leaf7_ecx_rdpid : 0));
    keep_only(answer(t, 7, 0), edx, leaf7_edx_kept);
    if (std::uint32_t* seven = answer(t, 7, 0)) {
        seven[eax] = 0; // the highest subleaf: 0, and subleaves 1 and 2 read zero
        t.basic[7].count = 1;
        t.basic[7].indexed = true;
    }
    one_processor_topology(t);
    replace(t, 0x14, 0); // processor trace
    // The TSC's rate: leaf 0x15 as a "crystal" at the TSC's own frequency with ratio 1/1 (the
    // local APIC timer counts at that rate too), leaf 0x16 in MHz.
    std::uint64_t hz = facts.tsc_hz, ratio = 1;
    while (hz > 0xffffffffull) {
        hz >>= 1;
        ratio <<= 1;
    }
    if (Answer* crystal = replace(t, 0x15, 1)) {
        crystal[0][eax] = 1;
        crystal[0][ebx] = static_cast<std::uint32_t>(ratio);
        crystal[0][ecx] = static_cast<std::uint32_t>(hz);
    }
    if (Answer* freq = replace(t, 0x16, 1)) {
        const auto mhz = static_cast<std::uint32_t>(facts.tsc_hz / 1000000);
        freq[0][eax] = mhz;
        freq[0][ebx] = mhz;
        freq[0][ecx] = 100;
    }
    keep_only(answer(t, 0x80000001u, 0), edx, ext1_edx_kept | (facts.rdtscp ? cpuid_bit::rdtscp : 0));
    keep_only(answer(t, 0x80000001u, 0), ecx, ext1_ecx_kept);
    if (std::uint32_t* power = answer(t, 0x80000007u, 0)) {
        power[eax] = power[ebx] = power[ecx] = 0;
        power[edx] = ext7_invariant_tsc;
    } else if (Answer* p = replace(t, 0x80000007u, 1)) {
        p[0][edx] = ext7_invariant_tsc;
    }
    if (std::uint32_t* sizes = answer(t, 0x80000008u, 0)) sizes[ebx] = sizes[ecx] = sizes[edx] = 0;
}

} // namespace vmx
