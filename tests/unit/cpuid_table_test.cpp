// The CPUID table guests are answered from (vmx/exits/cpuid_table.hpp): what it keeps of the
// processor's leaves, what it takes out, and the lookups of leaves and subleaves it lacks.
#include "vmx/exits/cpuid_table.hpp"

#include <doctest/doctest.h>
#include <initializer_list>

#include "vmx/arch/x86.hpp"

namespace {

// A processor with basic leaves up to 0x1F (it claims 0x23), extended leaves up to 0x80000008,
// two cache levels in leaf 4, three topology levels in leaf 0xB, leaf 7 with subleaves 0..1, and
// XSAVE components x87, SSE, AVX (offset 576, 256 bytes) and AVX-512 (5..7 from 832 to 2688).
void big_cpu(std::uint32_t leaf, std::uint32_t subleaf, std::uint32_t out[4]) {
    out[0] = out[1] = out[2] = out[3] = 0;
    switch (leaf) {
    case 0: out[0] = 0x23; break;
    case 1: out[2] = 0xffffffffu; out[3] = 0xffffffffu; break;
    case 4: if (subleaf < 2) out[0] = 0x121u + subleaf; break; // cache type 1 (data), then 2
    case 7: if (subleaf == 0) { out[0] = 1; out[1] = 0xffffffffu; } else if (subleaf == 1) out[0] = 0x30; break;
    case 0xb: if (subleaf < 3) out[2] = ((subleaf + 1) << 8) | subleaf; break;
    case 0xd:
        if (subleaf == 1) out[0] = 0xf;
        if (subleaf == 2) { out[0] = 256; out[1] = 576; }
        if (subleaf >= 5 && subleaf <= 7) { out[0] = subleaf == 5 ? 64 : subleaf == 6 ? 512 : 1024; out[1] = subleaf == 5 ? 1088 : subleaf == 6 ? 1152 : 1664; }
        break;
    case 0xa: out[0] = 0x07300805; break;
    case 0x80000000u: out[0] = 0x80000021u; break;
    default: out[0] = leaf; out[1] = subleaf; break;
    }
}

} // namespace

TEST_CASE("cpuid table: the highest leaves are capped to what the table holds") {
    vmx::CpuidTable t;
    vmx::build_cpuid_table(big_cpu, t);
    CHECK(vmx::cpuid_lookup(t, 0, 0)[0] == 0x1f);
    CHECK(vmx::cpuid_lookup(t, 0x80000000u, 0)[0] == 0x80000008u);
    CHECK(vmx::cpuid_lookup(t, 0x80000009u, 0)[0] == 0);
    CHECK(vmx::cpuid_lookup(t, 0x20, 0)[0] == 0);
    CHECK(vmx::cpuid_lookup(t, 0x80000008u, 0)[0] == 0x80000008u);
    CHECK(t.used <= vmx::CpuidTable::capacity);
}

TEST_CASE("cpuid table: leaf 1 announces a hypervisor and hides what guests cannot use") {
    vmx::CpuidTable t;
    vmx::build_cpuid_table(big_cpu, t);
    const std::uint32_t* one = vmx::cpuid_lookup(t, 1, 0);
    for (std::uint32_t bit : {vmx::cpuid_bit::vmx, vmx::cpuid_bit::smx, vmx::cpuid_bit::monitor, vmx::cpuid_bit::osxsave,
                              vmx::cpuid_bit::pdcm, vmx::cpuid_bit::x2apic, vmx::cpuid_bit::tsc_deadline}) {
        CAPTURE(bit);
        CHECK((one[2] & bit) == 0);
    }
    CHECK((one[2] & vmx::cpuid_bit::hypervisor) != 0);
    CHECK((one[3] & vmx::cpuid_bit::apic) == 0);
    CHECK(vmx::cpuid_lookup(t, 1, 5)[2] == one[2]); // leaf 1 has no subleaves: ECX is ignored
}

TEST_CASE("cpuid table: subleaves are kept as far as the processor has them, zero beyond") {
    vmx::CpuidTable t;
    vmx::build_cpuid_table(big_cpu, t);
    CHECK(vmx::cpuid_lookup(t, 4, 0)[0] == 0x121);
    CHECK(vmx::cpuid_lookup(t, 4, 1)[0] == 0x122);
    CHECK(vmx::cpuid_lookup(t, 4, 2)[0] == 0);
    CHECK(vmx::cpuid_lookup(t, 0xb, 2)[2] == ((3u << 8) | 2u));
    CHECK(vmx::cpuid_lookup(t, 0xb, 3)[2] == 0);
    CHECK((vmx::cpuid_lookup(t, 7, 0)[1] & vmx::cpuid_bit::tsc_adjust) == 0);
    CHECK(vmx::cpuid_lookup(t, 7, 1)[0] == 0x30);
    CHECK(vmx::cpuid_lookup(t, 7, 2)[0] == 0);
    CHECK((vmx::cpuid_lookup(t, 0xd, 1)[0] & vmx::cpuid_bit::xsaves) == 0);
    CHECK(vmx::cpuid_lookup(t, 0xd, 0xffffffffu)[0] == 0);
}

TEST_CASE("cpuid table: MONITOR/MWAIT and performance monitoring leaves read zero") {
    vmx::CpuidTable t;
    vmx::build_cpuid_table(big_cpu, t);
    for (std::uint32_t leaf : {5u, 0xau, 0xfu, 0x10u, 0x12u, 0x1bu, 0x1du, 0x1eu}) {
        CAPTURE(leaf);
        const std::uint32_t* a = vmx::cpuid_lookup(t, leaf, 0);
        CHECK((a[0] | a[1] | a[2] | a[3]) == 0);
    }
}

TEST_CASE("cpuid table: the XSAVE size follows XCR0 from the components' offsets and sizes") {
    vmx::CpuidTable t;
    vmx::build_cpuid_table(big_cpu, t);
    CHECK(vmx::xsave_size_for(t, 0x3) == 576);
    CHECK(vmx::xsave_size_for(t, 0x7) == 832);
    CHECK(vmx::xsave_size_for(t, 0xe7) == 2688);
    // Compacted (XSAVEC, CPUID.(EAX=0DH,ECX=1):EBX): the components back to back. Linux 6.1
    // compares this with its own sum and warns at boot when they differ.
    CHECK(vmx::xsave_compacted_size_for(t, 0x3) == 576);
    CHECK(vmx::xsave_compacted_size_for(t, 0x7) == 832);
    CHECK(vmx::xsave_compacted_size_for(t, 0xe7) == 2432);
    CHECK(vmx::xsave_compacted_size_for(t, 0xe3) == 2176); // no AVX: opmask right after the header
}

TEST_CASE("cpuid table: an empty table answers zero everywhere") {
    for (std::uint32_t leaf : {0u, 1u, 0xdu, 0x80000000u, 0x40000000u}) {
        const std::uint32_t* a = vmx::cpuid_lookup(vmx::no_cpuid_answers, leaf, 0);
        CHECK((a[0] | a[1] | a[2] | a[3]) == 0);
    }
}

TEST_CASE("cpuid table: a Linux guest sees one processor with an xAPIC (no x2APIC), TSC deadline and an invariant TSC") {
    vmx::CpuidTable t;
    vmx::LinuxCpuidFacts facts;
    facts.tsc_hz = 1000000000;
    vmx::build_linux_cpuid_table(big_cpu, facts, t);
    const std::uint32_t* one = vmx::cpuid_lookup(t, 1, 0);
    CHECK((one[1] >> 24) == 0);          // APIC ID 0
    CHECK((one[1] >> 16 & 0xff) == 1);   // one logical processor
    CHECK((one[2] & vmx::cpuid_bit::x2apic) == 0);
    CHECK((one[2] & vmx::cpuid_bit::tsc_deadline) != 0);
    CHECK((one[2] & vmx::cpuid_bit::vmx) == 0);
    CHECK((one[3] & vmx::cpuid_bit::apic) != 0);
    CHECK((one[3] & (1u << 12)) == 0);   // no MTRR
    CHECK((one[3] & (1u << 28)) == 0);   // no HTT
    CHECK(vmx::cpuid_lookup(t, 6, 0)[0] == 4); // ARAT only
    CHECK(vmx::cpuid_lookup(t, 0, 0)[0] >= 0x16);
    const std::uint32_t* crystal = vmx::cpuid_lookup(t, 0x15, 0);
    CHECK(crystal[2] * static_cast<std::uint64_t>(crystal[1]) / crystal[0] == 1000000000u);
    CHECK(vmx::cpuid_lookup(t, 0x16, 0)[0] == 1000);
    CHECK(vmx::cpuid_lookup(t, 0x80000007u, 0)[3] == (1u << 8));
    // Topology: SMT and core levels with one logical processor each, then the end.
    CHECK(vmx::cpuid_lookup(t, 0xb, 0)[1] == 1);
    CHECK((vmx::cpuid_lookup(t, 0xb, 1)[2] >> 8 & 0xff) == 2);
    CHECK((vmx::cpuid_lookup(t, 0xb, 2)[2] >> 8 & 0xff) == 0);
    CHECK(vmx::cpuid_lookup(t, 0xb, 0)[3] == 0); // x2APIC ID
    CHECK((vmx::cpuid_lookup(t, 4, 0)[0] >> 14) == 0);
    // Leaf 7: no TSX, INVPCID (not enabled), speculation MSRs; subleaf 1 reads zero.
    const std::uint32_t* seven = vmx::cpuid_lookup(t, 7, 0);
    CHECK((seven[1] & ((1u << 4) | (1u << 11) | (1u << 10) | (1u << 1))) == 0);
    CHECK((seven[1] & (1u << 5)) != 0); // AVX2 kept
    CHECK(seven[3] == 0);
    CHECK((seven[2] & (1u << 16)) == 0); // no 5-level paging
    CHECK(vmx::cpuid_lookup(t, 7, 1)[0] == 0);
}
