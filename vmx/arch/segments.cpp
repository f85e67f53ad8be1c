#include "vmx/arch/segments.hpp"

namespace vmx {

namespace {

bool fail(const char** reason, const char* why) {
    if (reason != nullptr) *reason = why;
    return false;
}

constexpr bool canonical48(std::uint64_t address) {
    const std::uint64_t top = address >> 47;
    return top == 0 || top == 0x1ffff;
}

constexpr unsigned dpl_of(std::uint32_t ar) { return (ar & segment_ar::dpl_mask) >> segment_ar::dpl_shift; }
constexpr unsigned rpl_of(std::uint16_t selector) { return selector & 3u; }
constexpr bool ti_of(std::uint16_t selector) { return (selector & 4u) != 0; }

// SDM: "If any bit in the limit field in the range 11:0 is 0, G must be 0. If any bit in the
// limit field in the range 31:20 is 1, G must be 1."
bool limit_consistent(const SegmentState& seg, const char** reason) {
    const bool g = (seg.access_rights & segment_ar::g) != 0;
    if (g && (seg.limit & 0xfffu) != 0xfffu)
        return fail(reason, "G=1 requires limit bits 11:0 all ones");
    if (!g && (seg.limit & 0xfff00000u) != 0)
        return fail(reason, "a limit above 1 MiB (bits 31:20 set) requires G=1");
    return true;
}

bool check_base(SegmentRegister which, const SegmentState& seg, const char** reason) {
    switch (which) {
    case SegmentRegister::fs:
    case SegmentRegister::gs:
    case SegmentRegister::ldtr:
    case SegmentRegister::tr:
        if (!canonical48(seg.base)) return fail(reason, "base address is not canonical");
        return true;
    case SegmentRegister::cs:
    case SegmentRegister::ss:
    case SegmentRegister::ds:
    case SegmentRegister::es:
        if ((seg.base >> 32) != 0) return fail(reason, "base address bits 63:32 must be 0");
        return true;
    }
    return true;
}

bool check_cs(const SegmentState& seg, const char** reason) {
    const std::uint32_t type = seg.access_rights & segment_ar::type_mask;
    // Code segments, accessed: 9/11 non-conforming, 13/15 conforming (type 3 only for an
    // unrestricted guest in real mode, which Metronome never enters).
    if (type != 9 && type != 11 && type != 13 && type != 15)
        return fail(reason, "type must be an accessed code segment (9, 11, 13 or 15)");
    const bool conforming = (type & 4u) != 0;
    if (!conforming && dpl_of(seg.access_rights) != rpl_of(seg.selector))
        return fail(reason, "non-conforming code segment needs DPL equal to the selector's RPL");
    if (conforming && dpl_of(seg.access_rights) > rpl_of(seg.selector))
        return fail(reason, "conforming code segment needs DPL not above the selector's RPL");
    if ((seg.access_rights & segment_ar::l) != 0 && (seg.access_rights & segment_ar::db) != 0)
        return fail(reason, "L=1 (64-bit code) requires D/B=0");
    return true;
}

bool check_ss(const SegmentState& seg, const char** reason) {
    const std::uint32_t type = seg.access_rights & segment_ar::type_mask;
    if (type != 3 && type != 7)
        return fail(reason, "type must be read/write accessed data (3 or 7)");
    if (dpl_of(seg.access_rights) != rpl_of(seg.selector))
        return fail(reason, "DPL must equal the selector's RPL");
    return true;
}

bool check_data(const SegmentState& seg, const char** reason) {
    const std::uint32_t type = seg.access_rights & segment_ar::type_mask;
    if ((type & 1u) == 0) return fail(reason, "type must have the accessed bit set");
    if ((type & 8u) != 0 && (type & 2u) == 0)
        return fail(reason, "a code segment here must be readable");
    // Data and non-conforming code (types 0-11) may not be more privileged than the selector.
    if (type <= 11 && dpl_of(seg.access_rights) < rpl_of(seg.selector))
        return fail(reason, "DPL must not be below the selector's RPL");
    return true;
}

bool check_system(SegmentRegister which, const SegmentState& seg, const char** reason) {
    const std::uint32_t type = seg.access_rights & segment_ar::type_mask;
    if (ti_of(seg.selector)) return fail(reason, "selector must point into the GDT (TI=0)");
    if (which == SegmentRegister::tr && type != segment_type::tss64_busy)
        return fail(reason, "TR must hold a busy 64-bit TSS (type 11)");
    if (which == SegmentRegister::ldtr && type != segment_type::ldt)
        return fail(reason, "LDTR must hold an LDT (type 2)");
    return true;
}

} // namespace

const char* segment_register_name(SegmentRegister which) {
    switch (which) {
    case SegmentRegister::es: return "ES";
    case SegmentRegister::cs: return "CS";
    case SegmentRegister::ss: return "SS";
    case SegmentRegister::ds: return "DS";
    case SegmentRegister::fs: return "FS";
    case SegmentRegister::gs: return "GS";
    case SegmentRegister::ldtr: return "LDTR";
    case SegmentRegister::tr: return "TR";
    }
    return "?";
}

bool segment_valid_for_ia32e_guest(SegmentRegister which, const SegmentState& seg,
                                   const char** reason) {
    const bool usable = (seg.access_rights & segment_ar::unusable) == 0;
    const bool system = which == SegmentRegister::tr || which == SegmentRegister::ldtr;
    if (!usable) {
        if (which == SegmentRegister::cs) return fail(reason, "CS must be usable");
        if (which == SegmentRegister::tr) return fail(reason, "TR must be usable");
        // FS and GS bases are loaded even when unusable, so they are checked regardless.
        if (which == SegmentRegister::fs || which == SegmentRegister::gs)
            return check_base(which, seg, reason);
        return true;
    }
    // 64-bit code may run at CPL 0 with a null SS; entering a 64-bit guest does not check SS
    // then (Bochs skips it too), so neither do we.
    if (which == SegmentRegister::ss && seg.selector == 0) return true;
    if (!check_base(which, seg, reason)) return false;
    if ((seg.access_rights & segment_ar::reserved) != 0)
        return fail(reason, "access-rights bits 11:8 and 31:17 must be 0");
    if (system == ((seg.access_rights & segment_ar::s) != 0))
        return fail(reason, system ? "S must be 0 (system segment)" : "S must be 1 (code or data)");
    if ((seg.access_rights & segment_ar::present) == 0)
        return fail(reason, "a usable segment must be present (P=1)");
    if (!limit_consistent(seg, reason)) return false;
    switch (which) {
    case SegmentRegister::cs: return check_cs(seg, reason);
    case SegmentRegister::ss: return check_ss(seg, reason);
    case SegmentRegister::ds:
    case SegmentRegister::es:
    case SegmentRegister::fs:
    case SegmentRegister::gs: return check_data(seg, reason);
    case SegmentRegister::ldtr:
    case SegmentRegister::tr: return check_system(which, seg, reason);
    }
    return true;
}

} // namespace vmx
