// Segment registers in the form the VMCS holds them: the access-rights word decoded from a GDT
// descriptor, the flat segments Metronome gives its 64-bit guests and itself, and a check of the
// guest-segment rules VM entry enforces, so a bad guest state is refused before the CPU does it.
#pragma once
#include <cstdint>

namespace vmx {

// The VMCS access-rights format (SDM "Guest Register State", table "Format of Access Rights"):
// descriptor bits 47:40 land in bits 7:0, descriptor bits 55:52 in bits 15:12; the limit's
// bits 19:16 sit between them in the descriptor and are left out.
namespace segment_ar {
inline constexpr std::uint32_t type_mask = 0xfu;
inline constexpr std::uint32_t s = 1u << 4; // 1 = code/data, 0 = system
inline constexpr unsigned dpl_shift = 5;
inline constexpr std::uint32_t dpl_mask = 3u << dpl_shift;
inline constexpr std::uint32_t present = 1u << 7;
inline constexpr std::uint32_t avl = 1u << 12;
inline constexpr std::uint32_t l = 1u << 13; // 64-bit code
inline constexpr std::uint32_t db = 1u << 14;
inline constexpr std::uint32_t g = 1u << 15; // limit counted in 4 KiB units
inline constexpr std::uint32_t unusable = 1u << 16;
inline constexpr std::uint32_t reserved = 0xfffe0f00u; // bits 11:8 and 31:17
} // namespace segment_ar

// The one bit that makes a segment register "unusable" (a null selector was loaded).
inline constexpr std::uint32_t access_rights_unusable = segment_ar::unusable;

// Segment types used here (SDM "Code- and Data-Segment Types", "System Descriptor Types").
namespace segment_type {
inline constexpr std::uint32_t data_read_write_accessed = 0x3;
inline constexpr std::uint32_t code_execute_read_accessed = 0xb;
inline constexpr std::uint32_t ldt = 0x2;
inline constexpr std::uint32_t tss64_available = 0x9;
inline constexpr std::uint32_t tss64_busy = 0xb; // the type VM entry wants in guest TR
} // namespace segment_type

// Access-rights words of the segments Metronome builds.
// Code: type 0xB, S, DPL 0, P, L, G (D/B must be 0 when L is 1).
inline constexpr std::uint32_t access_rights_code64 = segment_type::code_execute_read_accessed |
    segment_ar::s | segment_ar::present | segment_ar::l | segment_ar::g;
// Data and stack: type 3, S, DPL 0, P, D/B, G.
inline constexpr std::uint32_t access_rights_data = segment_type::data_read_write_accessed |
    segment_ar::s | segment_ar::present | segment_ar::db | segment_ar::g;
// Guest TR: a busy 64-bit TSS, S = 0, P, byte-granular limit.
inline constexpr std::uint32_t access_rights_tss64_busy =
    segment_type::tss64_busy | segment_ar::present;

constexpr std::uint32_t access_rights_from_descriptor(std::uint64_t descriptor) {
    return static_cast<std::uint32_t>((descriptor >> 40) & 0xf0ffu);
}

// The limit in bytes: with G = 1 the 20-bit field counts 4 KiB units, and the low 12 bits of the
// byte limit are all ones (SDM "Segment Descriptors").
constexpr std::uint32_t limit_from_descriptor(std::uint64_t descriptor) {
    const auto raw = static_cast<std::uint32_t>((descriptor & 0xffffu) |
                                                ((descriptor >> 32) & 0xf0000u));
    const bool granular = (descriptor >> 55) & 1;
    return granular ? ((raw << 12) | 0xfffu) : raw;
}

// The 32-bit base of an 8-byte descriptor. A 64-bit TSS or LDT descriptor is 16 bytes: see
// base_from_system_descriptor.
constexpr std::uint64_t base_from_descriptor(std::uint64_t descriptor) {
    return ((descriptor >> 16) & 0xffffffu) | ((descriptor >> 32) & 0xff000000u);
}
constexpr std::uint64_t base_from_system_descriptor(std::uint64_t low, std::uint64_t high) {
    return base_from_descriptor(low) | ((high & 0xffffffffu) << 32);
}

// An 8-byte descriptor from base, raw 20-bit limit field and a VMCS-format access-rights word;
// the inverse of the three decoders above, for building Metronome's own GDT.
constexpr std::uint64_t make_descriptor(std::uint32_t base, std::uint32_t limit_field,
                                        std::uint32_t access_rights) {
    const std::uint64_t b = base;
    const std::uint64_t lim = limit_field & 0xfffffu;
    const std::uint64_t ar = access_rights;
    return (lim & 0xffffu) | ((b & 0xffffffu) << 16) | ((ar & 0xffu) << 40) |
           ((lim >> 16) << 48) | (((ar >> 12) & 0xfu) << 52) | ((b >> 24) << 56);
}
inline constexpr std::uint64_t code64_descriptor = make_descriptor(0, 0xfffff, access_rights_code64);
inline constexpr std::uint64_t data_descriptor = make_descriptor(0, 0xfffff, access_rights_data);
// The two halves of a 64-bit TSS descriptor for the host GDT. It is written "available": LTR
// faults on a busy TSS and marks it busy itself (SDM "Task Register").
constexpr std::uint64_t tss64_descriptor_low(std::uint64_t base, std::uint32_t limit) {
    return make_descriptor(static_cast<std::uint32_t>(base & 0xffffffffu), limit,
                           segment_type::tss64_available | segment_ar::present);
}
constexpr std::uint64_t tss64_descriptor_high(std::uint64_t base) { return base >> 32; }

// One segment register as the guest-state area stores it: limit in bytes, VMCS access rights.
struct SegmentState {
    std::uint16_t selector;
    std::uint64_t base;
    std::uint32_t limit;
    std::uint32_t access_rights;
};

constexpr SegmentState unusable_segment() { return {0, 0, 0, access_rights_unusable}; }
constexpr SegmentState flat_code64_segment(std::uint16_t selector) {
    return {selector, 0, 0xffffffffu, access_rights_code64};
}
constexpr SegmentState flat_data_segment(std::uint16_t selector) {
    return {selector, 0, 0xffffffffu, access_rights_data};
}
constexpr SegmentState busy_tss64_segment(std::uint16_t selector, std::uint64_t base,
                                          std::uint32_t limit) {
    return {selector, base, limit, access_rights_tss64_busy};
}
// A register loaded from an 8-byte GDT descriptor (code and data segments).
constexpr SegmentState segment_from_descriptor(std::uint16_t selector, std::uint64_t descriptor) {
    return {selector, base_from_descriptor(descriptor), limit_from_descriptor(descriptor),
            access_rights_from_descriptor(descriptor)};
}

enum class SegmentRegister : std::uint8_t { es, cs, ss, ds, fs, gs, ldtr, tr };
const char* segment_register_name(SegmentRegister which);

// The guest-segment rules of SDM "Checks on Guest Segment Registers" for a guest entered with
// "IA-32e mode guest" = 1 (not virtual-8086): usability, type, S, DPL against RPL, P, reserved
// bits, limit against G, CS.L with CS.D/B, the TR/LDTR system types and base canonicality
// (48-bit). The rules that depend on another register (CS.DPL against SS.DPL) are left out.
// On failure returns false and, if `reason` is not null, a sentence without the register name
// (see segment_register_name).
bool segment_valid_for_ia32e_guest(SegmentRegister which, const SegmentState& segment,
                                   const char** reason);

} // namespace vmx
