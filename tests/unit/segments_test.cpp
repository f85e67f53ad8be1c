#include "vmx/arch/segments.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <string>

using vmx::SegmentRegister;
using vmx::SegmentState;

// Descriptors as real GDTs hold them: a 64-bit kernel code segment, a flat data segment, and
// a 32-bit code segment left unaccessed (type 0xA).
static_assert(vmx::access_rights_from_descriptor(0x00af9b000000ffffull) == 0xa09b);
static_assert(vmx::access_rights_from_descriptor(0x00cf93000000ffffull) == 0xc093);
static_assert(vmx::access_rights_from_descriptor(0x00cf9a000000ffffull) == 0xc09a);
static_assert(vmx::limit_from_descriptor(0x00cf93000000ffffull) == 0xffffffffu);
static_assert(vmx::base_from_descriptor(0x00cf93000000ffffull) == 0);
static_assert(vmx::code64_descriptor == 0x00af9b000000ffffull);
static_assert(vmx::data_descriptor == 0x00cf93000000ffffull);
static_assert(vmx::access_rights_code64 == 0xa09b);
static_assert(vmx::access_rights_data == 0xc093);
static_assert(vmx::access_rights_tss64_busy == 0x8b);
static_assert(vmx::access_rights_unusable == 0x10000);
static_assert(vmx::unusable_segment().access_rights == vmx::access_rights_unusable);

TEST_CASE("access rights take descriptor bits 47:40 and 55:52 and nothing else") {
    CHECK(vmx::access_rights_from_descriptor(0x00af9b000000ffffull) == 0xa09b);
    CHECK(vmx::access_rights_from_descriptor(0x00cf93000000ffffull) == 0xc093);
    // Limit bits 19:16 (descriptor 51:48) must not leak into access-rights bits 11:8, and the
    // base bytes around them must not appear either.
    CHECK(vmx::access_rights_from_descriptor(0xff0f00ffffffffffull) == 0);
    // Every flag on its own: AVL, L, D/B, G, P, DPL 3, S, type 0xF.
    CHECK(vmx::access_rights_from_descriptor(1ull << 52) == vmx::segment_ar::avl);
    CHECK(vmx::access_rights_from_descriptor(1ull << 53) == vmx::segment_ar::l);
    CHECK(vmx::access_rights_from_descriptor(1ull << 54) == vmx::segment_ar::db);
    CHECK(vmx::access_rights_from_descriptor(1ull << 55) == vmx::segment_ar::g);
    CHECK(vmx::access_rights_from_descriptor(0xffull << 40) == 0xff);
    CHECK((vmx::access_rights_from_descriptor(~0ull) & vmx::segment_ar::reserved) == 0);
}

TEST_CASE("limit expands with G and base is gathered from three fields") {
    // base 0x12345678, limit field 0xABCDE, byte granular.
    const std::uint64_t d = vmx::make_descriptor(0x12345678u, 0xabcde, 0x93);
    CHECK(d == 0x120a93345678bcdeull);
    CHECK(vmx::base_from_descriptor(d) == 0x12345678u);
    CHECK(vmx::limit_from_descriptor(d) == 0xabcdeu);
    // The same with G: 0xABCDE pages -> 0xABCDEFFF bytes.
    const std::uint64_t g = vmx::make_descriptor(0x12345678u, 0xabcde, 0x8093);
    CHECK(vmx::limit_from_descriptor(g) == 0xabcdefffu);
    CHECK(vmx::access_rights_from_descriptor(g) == 0x8093);
    CHECK(vmx::limit_from_descriptor(vmx::make_descriptor(0, 0, 0x8093)) == 0xfffu);
}

TEST_CASE("a 64-bit TSS descriptor carries a 64-bit base and is written available") {
    constexpr std::uint64_t base = 0xffff800012345678ull;
    constexpr std::uint64_t low = vmx::tss64_descriptor_low(base, 0x67);
    constexpr std::uint64_t high = vmx::tss64_descriptor_high(base);
    static_assert(vmx::base_from_system_descriptor(low, high) == base);
    static_assert(vmx::access_rights_from_descriptor(low) == 0x89);
    CHECK(vmx::base_from_system_descriptor(low, high) == base);
    CHECK(vmx::limit_from_descriptor(low) == 0x67u);
    CHECK((vmx::access_rights_from_descriptor(low) & 0xf) == vmx::segment_type::tss64_available);
    CHECK(high == 0xffff8000u);
}

TEST_CASE("the flat builders agree with the descriptors Metronome puts in its GDT") {
    constexpr SegmentState cs = vmx::flat_code64_segment(0x08);
    constexpr SegmentState from_gdt = vmx::segment_from_descriptor(0x08, vmx::code64_descriptor);
    static_assert(cs.access_rights == from_gdt.access_rights && cs.limit == from_gdt.limit);
    CHECK(cs.selector == 0x08);
    CHECK(cs.base == 0);
    CHECK(cs.limit == from_gdt.limit);
    CHECK(cs.access_rights == from_gdt.access_rights);
    const SegmentState ds = vmx::segment_from_descriptor(0x10, vmx::data_descriptor);
    CHECK(ds.access_rights == vmx::flat_data_segment(0x10).access_rights);
    CHECK(ds.limit == 0xffffffffu);
    const SegmentState tr = vmx::busy_tss64_segment(0x18, 0x7000, 0x67);
    CHECK(tr.access_rights == 0x8b);
    CHECK(tr.base == 0x7000);
    const SegmentState none = vmx::unusable_segment();
    CHECK(none.selector == 0);
    CHECK(none.access_rights == 0x10000);
}

TEST_CASE("Metronome's own guest segments pass the checker") {
    const char* reason = nullptr;
    CHECK(vmx::segment_valid_for_ia32e_guest(SegmentRegister::cs, vmx::flat_code64_segment(8), &reason));
    for (auto r : {SegmentRegister::ss, SegmentRegister::ds, SegmentRegister::es,
                   SegmentRegister::fs, SegmentRegister::gs})
        CHECK(vmx::segment_valid_for_ia32e_guest(r, vmx::flat_data_segment(0x10), &reason));
    CHECK(vmx::segment_valid_for_ia32e_guest(SegmentRegister::tr,
                                             vmx::busy_tss64_segment(0x18, 0x7000, 0x67), &reason));
    for (auto r : {SegmentRegister::ss, SegmentRegister::ds, SegmentRegister::es,
                   SegmentRegister::fs, SegmentRegister::gs, SegmentRegister::ldtr})
        CHECK(vmx::segment_valid_for_ia32e_guest(r, vmx::unusable_segment(), &reason));
    // A null SS in a 64-bit guest is fine whatever its cached attributes.
    CHECK(vmx::segment_valid_for_ia32e_guest(SegmentRegister::ss, SegmentState{0, 0, 0, 0}, nullptr));
}

static std::string why(SegmentRegister r, SegmentState s) {
    const char* reason = nullptr;
    if (vmx::segment_valid_for_ia32e_guest(r, s, &reason)) return "valid";
    REQUIRE(reason != nullptr);
    return reason;
}

TEST_CASE("CS with L=1 and D/B=1 is refused") {
    SegmentState cs = vmx::flat_code64_segment(8);
    cs.access_rights |= vmx::segment_ar::db;
    CHECK(why(SegmentRegister::cs, cs) == "L=1 (64-bit code) requires D/B=0");
    // Compatibility-mode code (L=0, D=1) is allowed.
    cs.access_rights &= ~vmx::segment_ar::l;
    CHECK(why(SegmentRegister::cs, cs) == "valid");
}

TEST_CASE("usable segments must be present and CS and TR must be usable") {
    SegmentState ds = vmx::flat_data_segment(0x10);
    ds.access_rights &= ~vmx::segment_ar::present;
    CHECK(why(SegmentRegister::ds, ds) == "a usable segment must be present (P=1)");
    CHECK(why(SegmentRegister::cs, vmx::unusable_segment()) == "CS must be usable");
    CHECK(why(SegmentRegister::tr, vmx::unusable_segment()) == "TR must be usable");
}

TEST_CASE("limit and granularity must agree") {
    SegmentState ds = vmx::flat_data_segment(0x10);
    ds.limit = 0xfffff000u; // G=1 but the low 12 bits are not all ones
    CHECK(why(SegmentRegister::ds, ds) == "G=1 requires limit bits 11:0 all ones");
    ds.limit = 0x00100000u;
    ds.access_rights &= ~vmx::segment_ar::g; // a byte limit above 1 MiB without G
    CHECK(why(SegmentRegister::ds, ds) == "a limit above 1 MiB (bits 31:20 set) requires G=1");
    ds.limit = 0x000fffffu; // 1 MiB exactly, byte granular: fine
    CHECK(why(SegmentRegister::ds, ds) == "valid");
}

TEST_CASE("TR must be a busy TSS in the GDT, and a system segment") {
    SegmentState tr = vmx::busy_tss64_segment(0x18, 0x7000, 0x67);
    tr.access_rights = (tr.access_rights & ~0xfu) | vmx::segment_type::tss64_available;
    CHECK(why(SegmentRegister::tr, tr) == "TR must hold a busy 64-bit TSS (type 11)");
    tr = vmx::busy_tss64_segment(0x18, 0x7000, 0x67);
    tr.access_rights |= vmx::segment_ar::s;
    CHECK(why(SegmentRegister::tr, tr) == "S must be 0 (system segment)");
    tr = vmx::busy_tss64_segment(0x1c, 0x7000, 0x67);
    CHECK(why(SegmentRegister::tr, tr) == "selector must point into the GDT (TI=0)");
    tr = vmx::busy_tss64_segment(0x18, 0x0000800000000000ull, 0x67);
    CHECK(why(SegmentRegister::tr, tr) == "base address is not canonical");
}

TEST_CASE("type, S, DPL and reserved-bit rules per register") {
    SegmentState cs = vmx::flat_code64_segment(8);
    cs.access_rights &= ~1u; // not accessed
    CHECK(why(SegmentRegister::cs, cs) ==
          "type must be an accessed code segment (9, 11, 13 or 15)");
    cs = vmx::flat_code64_segment(8 | 3); // RPL 3 against DPL 0, non-conforming
    CHECK(why(SegmentRegister::cs, cs) ==
          "non-conforming code segment needs DPL equal to the selector's RPL");
    SegmentState ss = vmx::flat_data_segment(0x10);
    ss.access_rights = (ss.access_rights & ~0xfu) | 0x1; // read-only data
    CHECK(why(SegmentRegister::ss, ss) == "type must be read/write accessed data (3 or 7)");
    SegmentState ds = vmx::flat_data_segment(0x10);
    ds.access_rights &= ~vmx::segment_ar::s;
    CHECK(why(SegmentRegister::ds, ds) == "S must be 1 (code or data)");
    ds = vmx::flat_data_segment(0x10);
    ds.access_rights |= 1u << 8;
    CHECK(why(SegmentRegister::ds, ds) == "access-rights bits 11:8 and 31:17 must be 0");
    ds = vmx::flat_data_segment(0x10);
    ds.base = 1ull << 32;
    CHECK(why(SegmentRegister::ds, ds) == "base address bits 63:32 must be 0");
    // DS may hold code: readable non-conforming code (type 11) obeys DPL >= RPL, readable
    // conforming code (type 15) does not.
    ds = vmx::flat_code64_segment(0x08 | 3);
    CHECK(why(SegmentRegister::ds, ds) == "DPL must not be below the selector's RPL");
    ds.access_rights |= 0x4;
    CHECK(why(SegmentRegister::ds, ds) == "valid");
    ds.access_rights &= ~0x2u; // execute-only code cannot be a data segment
    CHECK(why(SegmentRegister::ds, ds) == "a code segment here must be readable");
    ds = vmx::unusable_segment();
    ds.base = 0x0000900000000000ull; // unusable FS still has its base checked
    CHECK(why(SegmentRegister::fs, ds) == "base address is not canonical");
    CHECK(std::strcmp(vmx::segment_register_name(SegmentRegister::ldtr), "LDTR") == 0);
}
