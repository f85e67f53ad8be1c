#include "vmx/caps/mtrr.hpp"

namespace vmx {
namespace {

constexpr std::uint64_t def_type_fixed_enabled = 1u << 10;
constexpr std::uint64_t def_type_enabled = 1u << 11;
constexpr std::uint64_t cap_fixed_supported = 1u << 8;
constexpr std::uint64_t mask_valid = 1u << 11;

// Below 1 MiB: eight 64 KiB ranges, then sixteen 16 KiB, then sixty-four 4 KiB; one type byte
// each, eight per register.
std::uint8_t fixed_type(const MtrrState& m, std::uint64_t pa) {
    unsigned index;
    if (pa < 0x80000) {
        index = static_cast<unsigned>(pa >> 16);
    } else if (pa < 0xc0000) {
        index = 64 + static_cast<unsigned>((pa - 0x80000) >> 14);
    } else {
        index = 128 + static_cast<unsigned>((pa - 0xc0000) >> 12);
    }
    // Registers: 0 holds ranges 0..7; 1..2 hold 64+0..15; 3..10 hold 128+0..63.
    unsigned reg, byte;
    if (index < 64) {
        reg = 0;
        byte = index;
    } else if (index < 128) {
        reg = 1 + (index - 64) / 8;
        byte = (index - 64) % 8;
    } else {
        reg = 3 + (index - 128) / 8;
        byte = (index - 128) % 8;
    }
    return static_cast<std::uint8_t>(m.fixed[reg] >> (8 * byte));
}

} // namespace

std::uint8_t mtrr_memory_type(const MtrrState& m, std::uint64_t pa) {
    if ((m.def_type & def_type_enabled) == 0) return memory_type::uncacheable;
    if (pa < 0x100000 && (m.def_type & def_type_fixed_enabled) != 0 && (m.cap & cap_fixed_supported) != 0)
        return fixed_type(m, pa);
    const unsigned bits = m.physical_address_bits > 52 || m.physical_address_bits < 36 ? 36 : m.physical_address_bits;
    const std::uint64_t address_mask = ((1ull << bits) - 1) & ~0xfffull;
    unsigned count = static_cast<unsigned>(m.cap & 0xff);
    if (count > kMaxVariableMtrrs) count = kMaxVariableMtrrs;
    bool matched = false;
    std::uint8_t type = 0;
    for (unsigned i = 0; i < count; ++i) {
        if ((m.mask[i] & mask_valid) == 0) continue;
        const std::uint64_t mask = m.mask[i] & address_mask;
        if ((pa & mask) != (m.base[i] & mask)) continue;
        const auto t = static_cast<std::uint8_t>(m.base[i] & 0xff);
        // Overlaps: UC wins; WT wins over WB; other combinations are undefined (first kept).
        if (!matched || t == memory_type::uncacheable ||
            (t == memory_type::write_through && type == memory_type::write_back))
            type = t;
        matched = true;
    }
    return matched ? type : static_cast<std::uint8_t>(m.def_type & 0xff);
}

std::uint64_t write_back_monitor_line(const MtrrState& m, std::uint64_t preferred) {
    preferred &= ~63ull;
    if (mtrr_memory_type(m, preferred) == memory_type::write_back) return preferred;
    unsigned count = static_cast<unsigned>(m.cap & 0xff);
    if (count > kMaxVariableMtrrs) count = kMaxVariableMtrrs;
    for (unsigned i = 0; i < count; ++i) {
        if ((m.mask[i] & mask_valid) == 0) continue;
        const std::uint64_t candidate = (m.base[i] & ~0xfffull) + 0x1000;
        if (mtrr_memory_type(m, candidate) == memory_type::write_back) return candidate;
    }
    for (std::uint64_t candidate = 0x10000; candidate < 0x100000; candidate += 0x4000) {
        if (mtrr_memory_type(m, candidate) == memory_type::write_back) return candidate;
    }
    return kNoWriteBackLine;
}

} // namespace vmx
