#include "vmx/exits/cpuid_table.hpp"

#include "vmx/arch/x86.hpp"

namespace vmx {

const CpuidTable no_cpuid_answers{};

namespace {

// How many subleaves of `leaf` to keep, from what subleaf 0 says (0: the leaf reads zero).
std::uint32_t subleaves_of(std::uint32_t leaf, const std::uint32_t first[4], CpuidSource source) {
    switch (leaf) {
    case 4:    // deterministic cache parameters: until the cache type is 0 (no more caches)
    case 0xb:  // extended topology: until the level type (ECX[15:8]) is 0
    case 0x1f: {
        std::uint32_t n = 0, r[4];
        for (; n < 16; ++n) {
            source(leaf, n, r);
            if (leaf == 4 ? (r[0] & 0x1fu) == 0 : ((r[2] >> 8) & 0xffu) == 0) break;
        }
        return n;
    }
    case 7:    // EAX of subleaf 0: the highest subleaf
    case 0x14:
    case 0x17:
    case 0x18: return first[0] + 1 < 8 ? first[0] + 1 : 8;
    case 0xd: return 64; // one per state component
    case 5:    // MONITOR/MWAIT: trapped
    case 0xa:  // performance monitoring: none for guests
    case 0xf:  // the features guests cannot use
    case 0x10:
    case 0x12:
    case 0x1b:
    case 0x1d:
    case 0x1e:
    case 0x20: return 0;
    default: return 1;
    }
}

void filter(std::uint32_t leaf, std::uint32_t subleaf, std::uint32_t r[4]) {
    switch (leaf) {
    case 0:
        if (r[0] >= CpuidTable::basic_leaves) r[0] = CpuidTable::basic_leaves - 1;
        break;
    case 1:
        r[2] &= ~(cpuid_bit::vmx | cpuid_bit::smx | cpuid_bit::monitor | cpuid_bit::osxsave | cpuid_bit::pdcm |
                  cpuid_bit::x2apic | cpuid_bit::tsc_deadline);
        r[2] |= cpuid_bit::hypervisor;
        r[3] &= ~cpuid_bit::apic;
        break;
    case 7:
        if (subleaf == 0) r[1] &= ~cpuid_bit::tsc_adjust;
        break;
    case 0xd:
        if (subleaf == 1) r[0] &= ~cpuid_bit::xsaves;
        break;
    case CpuidTable::extended_first:
        if (r[0] >= CpuidTable::extended_first + CpuidTable::extended_leaves)
            r[0] = CpuidTable::extended_first + CpuidTable::extended_leaves - 1;
        break;
    default:
        break;
    }
}

// The leaves whose ECX selects a subleaf (SDM "CPUID—CPU Identification").
bool has_subleaves(std::uint32_t leaf) {
    switch (leaf) {
    case 4: case 7: case 0xb: case 0xd: case 0xf: case 0x10: case 0x12: case 0x14: case 0x17: case 0x18:
    case 0x1d: case 0x1e: case 0x1f: case 0x20: return true;
    default: return false;
    }
}

void fill(CpuidTable::Leaf& slot, std::uint32_t leaf, CpuidSource source, CpuidTable& t) {
    std::uint32_t first[4];
    source(leaf, 0, first);
    std::uint32_t n = subleaves_of(leaf, first, source);
    if (t.used + n > CpuidTable::capacity) n = static_cast<std::uint32_t>(CpuidTable::capacity - t.used);
    slot.first = static_cast<std::uint16_t>(t.used);
    slot.count = static_cast<std::uint16_t>(n);
    slot.indexed = has_subleaves(leaf);
    for (std::uint32_t s = 0; s < n; ++s) {
        std::uint32_t* r = t.answers[t.used++];
        source(leaf, s, r);
        filter(leaf, s, r);
    }
}

} // namespace

void build_cpuid_table(CpuidSource source, CpuidTable& t) {
    t = CpuidTable{};
    std::uint32_t r[4];
    source(0, 0, r);
    const std::uint32_t max_basic = r[0] < CpuidTable::basic_leaves ? r[0] : CpuidTable::basic_leaves - 1;
    for (std::uint32_t leaf = 0; leaf <= max_basic; ++leaf) fill(t.basic[leaf], leaf, source, t);
    source(CpuidTable::extended_first, 0, r);
    if (r[0] < CpuidTable::extended_first) return;
    const std::uint32_t extended = r[0] - CpuidTable::extended_first + 1;
    for (std::uint32_t i = 0; i < extended && i < CpuidTable::extended_leaves; ++i)
        fill(t.extended[i], CpuidTable::extended_first + i, source, t);
}

std::uint32_t xsave_size_for(const CpuidTable& t, std::uint64_t xcr0) {
    std::uint32_t size = 512 + 64; // legacy region and XSAVE header
    for (std::uint32_t i = 2; i < 64; ++i) {
        if ((xcr0 >> i & 1u) == 0) continue;
        const std::uint32_t* c = cpuid_lookup(t, 0xd, i);
        if (c[1] + c[0] > size) size = c[1] + c[0]; // offset + size of the component
    }
    return size;
}

std::uint32_t xsave_compacted_size_for(const CpuidTable& t, std::uint64_t xcr0) {
    std::uint32_t size = 512 + 64;
    for (std::uint32_t i = 2; i < 64; ++i) {
        if ((xcr0 >> i & 1u) == 0) continue;
        const std::uint32_t* c = cpuid_lookup(t, 0xd, i);
        if ((c[2] & 2u) != 0) size = (size + 63) & ~63u; // ECX[1]: 64-byte aligned when compacted
        size += c[0];
    }
    return size;
}

} // namespace vmx
