#include "vmx/guest/ept.hpp"

#include "vmx/lib/text.hpp"

#include <cstdint>

namespace vmx {

namespace {

bool fail(const char** reason, const char* why) {
    if (reason != nullptr) *reason = why;
    return false;
}

constexpr std::size_t entries_per_table = 512;
// Secondary processor-based control "enable EPT" (bit 1), allowed-1 half of the MSR.
constexpr std::uint64_t enable_ept_allowed = 1ull << (32 + 1);
constexpr std::uint64_t activate_secondary_allowed = 1ull << 63;
// A 4-level walk translates 48 bits of guest-physical address.
constexpr std::uint64_t guest_physical_limit = 1ull << 48;
constexpr std::uint64_t host_physical_limit = 1ull << 52;

bool present(std::uint64_t entry) { return (entry & ept_bits::rwx) != 0; }

} // namespace

bool ept_pointer_supported(std::uint64_t eptp, const VmxCaps& caps, const char** reason) {
    const std::uint64_t cap = caps.ept_vpid_cap;
    if ((caps.procbased_ctls & activate_secondary_allowed) == 0 ||
        (caps.procbased_ctls2 & enable_ept_allowed) == 0)
        return fail(reason, "this CPU does not allow \"enable EPT\"");
    switch (eptp & 7) {
    case 0:
        if ((cap & ept_vpid_cap::memory_type_uc) == 0)
            return fail(reason, "EPTP memory type UC is not supported (EPT_VPID_CAP[8])");
        break;
    case 6:
        if ((cap & ept_vpid_cap::memory_type_wb) == 0)
            return fail(reason, "EPTP memory type WB is not supported (EPT_VPID_CAP[14])");
        break;
    default: return fail(reason, "EPTP memory type must be UC (0) or WB (6)");
    }
    switch ((eptp >> 3) & 7) {
    case 3:
        if ((cap & ept_vpid_cap::walk_length_4) == 0)
            return fail(reason, "4-level EPT walk is not supported (EPT_VPID_CAP[6])");
        break;
    case 4:
        if ((cap & ept_vpid_cap::walk_length_5) == 0)
            return fail(reason, "5-level EPT walk is not supported (EPT_VPID_CAP[7])");
        break;
    default: return fail(reason, "EPTP page-walk length must be 4 or 5 levels");
    }
    if ((eptp & (1ull << 6)) != 0 && (cap & ept_vpid_cap::accessed_dirty) == 0)
        return fail(reason, "EPT accessed/dirty flags are not supported (EPT_VPID_CAP[21])");
    if ((eptp & (1ull << 7)) != 0 && (cap & ept_vpid_cap::supervisor_shadow_stack) == 0)
        return fail(reason, "EPTP bit 7 (supervisor shadow stacks) is not supported");
    if ((eptp & 0xf00u) != 0) return fail(reason, "EPTP bits 11:8 are reserved");
    if ((eptp >> 52) != 0) return fail(reason, "EPTP address bits above 51 are set");
    return true;
}

void describe_ept_access(const EptViolation& v, char* out, std::size_t size) {
    Text text(out, size);
    const char* parts[3] = {v.read ? "read" : nullptr, v.write ? "write" : nullptr,
                            v.fetch ? "instruction fetch" : nullptr};
    bool first = true;
    for (const char* part : parts) {
        if (part == nullptr) continue;
        if (!first) text.str(" and ");
        text.str(part);
        first = false;
    }
    if (first) text.str("unknown access");
}

EptBuilder::EptBuilder(void* pool, std::size_t page_count, EptToPhysical to_physical)
    : pool_(static_cast<std::uint64_t*>(pool)), count_(page_count), to_physical_(to_physical) {}

std::uint64_t* EptBuilder::page(std::size_t index) const {
    return pool_ + index * entries_per_table;
}

std::uint64_t EptBuilder::physical(const std::uint64_t* table) const {
    if (to_physical_ != nullptr) return to_physical_(table);
    return reinterpret_cast<std::uintptr_t>(table);
}

std::uint64_t* EptBuilder::allocate(const char** reason) {
    if (used_ == count_) {
        fail(reason, "EPT table pool exhausted");
        return nullptr;
    }
    std::uint64_t* table = page(used_);
    if (physical(table) % page_4k != 0) {
        fail(reason, "EPT table pool is not 4 KiB aligned");
        return nullptr;
    }
    for (std::size_t i = 0; i < entries_per_table; ++i) {
        if (table[i] != 0) {
            fail(reason, "EPT table pool page is not zeroed");
            return nullptr;
        }
    }
    ++used_;
    return table;
}

// Pool pages are usually physically contiguous, so try the page the offset points at first.
std::uint64_t* EptBuilder::table_at(std::uint64_t phys) const {
    if (used_ == 0) return nullptr;
    const std::uint64_t first = physical(page(0));
    if (phys >= first) {
        const std::uint64_t guess = (phys - first) / page_4k;
        if (guess < used_ && physical(page(guess)) == phys) return page(guess);
    }
    for (std::size_t i = 0; i < used_; ++i)
        if (physical(page(i)) == phys) return page(i);
    return nullptr;
}

std::uint64_t* EptBuilder::child(std::uint64_t& entry, const char** reason) {
    if (present(entry)) {
        if ((entry & ept_bits::large_page) != 0) {
            fail(reason, "guest-physical range already mapped");
            return nullptr;
        }
        std::uint64_t* table = table_at(entry & ept_bits::address_mask);
        if (table == nullptr) fail(reason, "EPT entry points outside the table pool");
        return table;
    }
    std::uint64_t* table = allocate(reason);
    if (table != nullptr) entry = ept_table_entry(physical(table));
    return table;
}

// Level 4 is the PML4, level 1 a page table; each entry at level L spans 2^(12 + 9(L-1)) bytes.
bool EptBuilder::map_level(std::uint64_t* table, unsigned level, std::uint64_t gpa,
                           std::uint64_t end, std::uint64_t host_minus_guest, bool use_2m,
                           const char** reason) {
    const unsigned shift = 12 + 9 * (level - 1);
    while (gpa < end) {
        std::uint64_t& entry = table[(gpa >> shift) % entries_per_table];
        std::uint64_t chunk_end = ((gpa >> shift) + 1) << shift;
        if (chunk_end > end) chunk_end = end;
        const std::uint64_t host = gpa + host_minus_guest;
        const bool whole_2m = level == 2 && use_2m && gpa % page_2m == 0 &&
                              host % page_2m == 0 && chunk_end - gpa == page_2m;
        if (level == 1 || whole_2m) {
            if (present(entry)) return fail(reason, "guest-physical range already mapped");
            entry = level == 1 ? ept_leaf_4k(host, ept_bits::rwx, EptMemoryType::write_back)
                               : ept_leaf_2m(host, ept_bits::rwx, EptMemoryType::write_back);
        } else {
            std::uint64_t* next = child(entry, reason);
            if (next == nullptr) return false;
            if (!map_level(next, level - 1, gpa, chunk_end, host_minus_guest, use_2m, reason))
                return false;
        }
        gpa = chunk_end;
    }
    return true;
}

bool EptBuilder::map(std::uint64_t gpa, std::uint64_t hpa, std::uint64_t size,
                     bool use_2m_pages, const char** reason) {
    if (size == 0) return fail(reason, "empty range");
    if (gpa % page_4k != 0 || hpa % page_4k != 0 || size % page_4k != 0)
        return fail(reason, "range is not 4 KiB aligned");
    if (gpa >= guest_physical_limit || size > guest_physical_limit - gpa)
        return fail(reason, "guest range beyond 4-level EPT (256 TiB)");
    if (hpa >= host_physical_limit || size > host_physical_limit - hpa)
        return fail(reason, "host range beyond 52-bit physical addresses");
    if (pml4_ == nullptr) {
        pml4_ = allocate(reason);
        if (pml4_ == nullptr) return false;
        pml4_physical_ = physical(pml4_);
    }
    return map_level(pml4_, 4, gpa, gpa + size, hpa - gpa, use_2m_pages, reason);
}

EptResult EptBuilder::build(const EptLayout& layout) {
    const char* reason = nullptr;
    if (!map(0, layout.host_base, layout.guest_size, layout.use_2m_pages, &reason))
        return {false, 0, used_, reason};
    return {true, ept_pointer(pml4_physical_, EptMemoryType::write_back, layout.accessed_dirty),
            used_, nullptr};
}

EptWalk ept_walk(const std::uint64_t* pml4, std::uint64_t gpa, EptToTable to_table) {
    EptWalk walk{false, 0, 0, 0};
    if (pml4 == nullptr || gpa >= guest_physical_limit) return walk;
    const std::uint64_t* table = pml4;
    for (unsigned level = 4; level >= 1; --level) {
        const unsigned shift = 12 + 9 * (level - 1);
        const std::uint64_t entry = table[(gpa >> shift) % entries_per_table];
        if (!present(entry)) return walk;
        const bool leaf = level == 1 || ((level == 2 || level == 3) &&
                                         (entry & ept_bits::large_page) != 0);
        if (leaf) {
            const std::uint64_t offset_mask = (1ull << shift) - 1;
            walk = {true, (entry & ept_bits::address_mask & ~offset_mask) | (gpa & offset_mask),
                    entry, shift};
            return walk;
        }
        const std::uint64_t next = entry & ept_bits::address_mask;
        table = to_table != nullptr ? to_table(next)
                                    : reinterpret_cast<const std::uint64_t*>(next);
    }
    return walk;
}

std::uint64_t ept_translate(const std::uint64_t* pml4, std::uint64_t gpa, bool* present_out,
                            EptToTable to_table) {
    const EptWalk walk = ept_walk(pml4, gpa, to_table);
    if (present_out != nullptr) *present_out = walk.present;
    return walk.host_physical;
}

} // namespace vmx
