// What a guest's CPUID answers, read from the processor once at set-up and kept in a table, so a
// CPUID exit costs a lookup instead of a CPUID in root mode and a chain of filters. Every CPUID is
// a VM exit; the table holds the processor's leaves with what guests may not use taken out
// (build_cpuid_table says what), and a leaf or subleaf it does not hold reads zero.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vmx {

struct CpuidTable {
    static constexpr std::uint32_t basic_leaves = 0x20;          // 0 .. 0x1F
    static constexpr std::uint32_t extended_first = 0x80000000u;
    static constexpr std::uint32_t extended_leaves = 9;          // 0x80000000 .. 0x80000008
    static constexpr std::size_t capacity = 224;                 // answers, every subleaf counted
    struct Leaf {
        std::uint16_t first = 0; // index of subleaf 0 in `answers`
        std::uint16_t count = 0; // subleaves held; 0: the leaf reads zero
        bool indexed = false;    // ECX selects a subleaf; otherwise every ECX reads the one answer
    };
    Leaf basic[basic_leaves]{};
    Leaf extended[extended_leaves]{};
    std::uint32_t answers[capacity][4]{};
    std::size_t used = 0;
};

// The table of a guest that was given none: every leaf reads zero.
extern const CpuidTable no_cpuid_answers;

// The processor's own answer (on the target, the CPUID instruction).
using CpuidSource = void (*)(std::uint32_t leaf, std::uint32_t subleaf, std::uint32_t out[4]);

// Fills `table` from `source` with the answers for guests of guest/ABI.md:
//  - the highest basic leaf is at most 0x1F and the highest extended leaf at most 0x80000008;
//    above them, and for the subleaves a leaf does not have, the answer is zero;
//  - leaf 1 announces a hypervisor and hides VMX, SMX, MONITOR/MWAIT (trapped), the local APIC,
//    x2APIC and the TSC-deadline timer (guests have no APIC) and PDCM (no performance counters);
//    OSXSAVE is set per guest from its own CR4 when it asks;
//  - leaf 5 (MONITOR/MWAIT) and leaf 0xA (performance monitoring) read zero;
//  - leaf 7 hides IA32_TSC_ADJUST (its MSR raises #GP); leaf 0xD hides XSAVES (not enabled), and
//    its sizes follow each guest's XCR0 when it asks;
//  - the leaves of features guests cannot use (RDT 0xF/0x10, SGX 0x12, AMX 0x1D/0x1E, 0x1B, 0x20)
//    read zero.
void build_cpuid_table(CpuidSource source, CpuidTable& table);

// What a Linux guest's table also depends on (build_linux_cpuid_table).
struct LinuxCpuidFacts {
    std::uint64_t tsc_hz = 0;      // the calibrated TSC: leaves 0x15 and 0x16 announce it
    bool rdtscp = false;           // "enable RDTSCP" is on: RDTSCP and RDPID may be announced
    bool invpcid = false;          // "enable INVPCID" is on
};

// The answers for a Linux guest (the README's Linux section lists what and why): the guest
// table above, then
//  - one processor: APIC ID 0 (leaf 1 EBX, leaf 0xB's x2APIC ID), one logical processor, no HTT,
//    leaf 0xB a one-thread, one-core topology, leaf 4 one core sharing each cache, 0x1F zero;
//  - a local APIC in x2APIC mode with the TSC-deadline timer (leaf 1), ARAT (leaf 6, the timer
//    runs in every C-state), an invariant TSC (0x80000007) whose rate leaves 0x15 and 0x16 give;
//  - no machine check, MTRR, thermal, debug store or power-management features, no TSX, PKU,
//    5-level paging, SGX, processor trace, INVPCID or RDTSCP/RDPID unless enabled, and none of
//    the speculation-control MSRs (leaf 7 EDX) Metronome does not emulate;
//  - the highest basic leaf at least 0x16.
void build_linux_cpuid_table(CpuidSource source, const LinuxCpuidFacts& facts, CpuidTable& table);

inline constexpr std::uint32_t cpuid_zero_answer[4] = {0, 0, 0, 0};

// The stored answer for (leaf, subleaf): four registers, EAX first; zeros when there is none.
// Inline: it is most of a CPUID exit.
inline const std::uint32_t* cpuid_lookup(const CpuidTable& t, std::uint32_t leaf, std::uint32_t subleaf) {
    const CpuidTable::Leaf* slot;
    if (leaf < CpuidTable::basic_leaves) {
        slot = &t.basic[leaf];
    } else if (leaf - CpuidTable::extended_first < CpuidTable::extended_leaves) {
        slot = &t.extended[leaf - CpuidTable::extended_first];
    } else {
        return cpuid_zero_answer;
    }
    if (!slot->indexed) return slot->count != 0 ? t.answers[slot->first] : cpuid_zero_answer;
    return subleaf < slot->count ? t.answers[slot->first + subleaf] : cpuid_zero_answer;
}

// XSAVE area size (bytes) for the state components in `xcr0`, from leaf 0xD's subleaves: what
// CPUID.(EAX=0DH,ECX=0):EBX reports for that XCR0.
std::uint32_t xsave_size_for(const CpuidTable& table, std::uint64_t xcr0);
// The same in the compacted format (XSAVEC; SDM "Compacted Form of XSAVE Area"): what
// CPUID.(EAX=0DH,ECX=1):EBX reports for XCR0 | IA32_XSS (guests have no IA32_XSS: it is 0).
std::uint32_t xsave_compacted_size_for(const CpuidTable& table, std::uint64_t xcr0);

} // namespace vmx
