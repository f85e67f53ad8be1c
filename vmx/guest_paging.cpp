#include "vmx/guest_paging.hpp"

#include "vmx/little_endian.hpp"

namespace vmx {

bool guest_linear_to_physical(const std::uint8_t* memory, std::uint64_t memory_size,
                              std::uint64_t cr3, std::uint64_t linear, std::uint64_t* physical) {
    constexpr std::uint64_t address_mask = 0x000ffffffffff000ull;
    std::uint64_t table = cr3 & address_mask;
    for (int level = 4; level >= 1; --level) {
        const unsigned shift = 12u + 9u * static_cast<unsigned>(level - 1);
        const std::uint64_t at = table + 8 * ((linear >> shift) & 511u);
        if (at > memory_size - 8 || memory_size < 8) return false;
        const std::uint64_t entry = load_le(memory + at, 8);
        if ((entry & 1u) == 0) return false;
        const bool large = (level == 3 || level == 2) && (entry & (1u << 7)) != 0;
        if (large || level == 1) {
            const std::uint64_t page_mask = (1ull << shift) - 1;
            *physical = ((entry & address_mask) & ~page_mask) | (linear & page_mask);
            return *physical < memory_size;
        }
        table = entry & address_mask;
    }
    return false;
}

} // namespace vmx
