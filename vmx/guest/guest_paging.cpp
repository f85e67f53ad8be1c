#include "vmx/guest/guest_paging.hpp"

#include "vmx/lib/little_endian.hpp"

namespace vmx {
namespace {

constexpr std::uint64_t address_mask = 0x000ffffffffff000ull;
constexpr std::uint64_t entry_present = 1u << 0;
constexpr std::uint64_t entry_writable = 1u << 1;
constexpr std::uint64_t entry_user = 1u << 2;
constexpr std::uint64_t entry_large = 1u << 7;

bool canonical(std::uint64_t linear) {
    const std::uint64_t top = linear >> 47;
    return top == 0 || top == 0x1ffff;
}

std::uint32_t error_code_for(const WalkAccess& access, bool present) {
    std::uint32_t e = present ? page_fault_error::present : 0;
    if (access.write) e |= page_fault_error::write;
    if (access.user) e |= page_fault_error::user;
    if (access.fetch) e |= page_fault_error::fetch;
    return e;
}

} // namespace

GuestWalk walk_guest_page_tables(const std::uint8_t* memory, std::uint64_t memory_size,
                                 std::uint64_t cr3, std::uint64_t linear, WalkAccess access) {
    GuestWalk w;
    if (!canonical(linear)) {
        w.fault = WalkFault::not_canonical;
        return w;
    }
    std::uint64_t table = cr3 & address_mask;
    bool writable = true, user = true;
    for (int level = 4; level >= 1; --level) {
        const unsigned shift = 12u + 9u * static_cast<unsigned>(level - 1);
        const std::uint64_t at = table + 8 * ((linear >> shift) & 511u);
        if (memory_size < 8 || at > memory_size - 8) {
            // The processor reads this entry from guest-physical memory: outside it, the read
            // is an EPT violation.
            w.fault = WalkFault::outside_memory;
            w.physical = at;
            w.paging_structure = true;
            return w;
        }
        const std::uint64_t entry = load_le(memory + at, 8);
        if ((entry & entry_present) == 0) {
            w.fault = WalkFault::page_fault;
            w.error_code = error_code_for(access, false);
            return w;
        }
        writable = writable && (entry & entry_writable) != 0;
        user = user && (entry & entry_user) != 0;
        const bool large = (level == 3 || level == 2) && (entry & entry_large) != 0;
        if (large || level == 1) {
            const bool write_denied = access.write && !writable && (access.user || access.write_protect);
            if ((access.user && !user) || write_denied) {
                w.fault = WalkFault::page_fault;
                w.error_code = error_code_for(access, true);
                return w;
            }
            const std::uint64_t page_mask = (1ull << shift) - 1;
            w.physical = ((entry & address_mask) & ~page_mask) | (linear & page_mask);
            if (w.physical >= memory_size) w.fault = WalkFault::outside_memory;
            return w;
        }
        table = entry & address_mask;
    }
    w.fault = WalkFault::page_fault; // not reached: level 1 always returns
    return w;
}

std::size_t read_guest_linear(const std::uint8_t* memory, std::uint64_t memory_size, bool paging,
                              std::uint64_t cr3, std::uint64_t linear, WalkAccess access,
                              std::uint8_t* out, std::size_t n) {
    std::size_t done = 0;
    std::uint64_t physical = 0;
    for (; done < n; ++done) {
        const std::uint64_t at = linear + done;
        if (done == 0 || at % guest_page_size == 0) {
            if (paging) {
                const GuestWalk w = walk_guest_page_tables(memory, memory_size, cr3, at, access);
                if (!w.ok()) break;
                physical = w.physical;
            } else {
                physical = at;
            }
        } else {
            ++physical;
        }
        if (physical >= memory_size) break;
        out[done] = memory[physical];
    }
    return done;
}

} // namespace vmx
