// Extended page tables: the EPT pointer, entries and indices (SDM "EPT Translation Mechanism",
// "Extended-Page-Table Pointer (EPTP)"), the EPT-violation exit qualification (SDM "Exit
// Qualification for EPT Violations"), and a builder that maps one guest's memory and nothing
// else, over caller-provided table pages.
#pragma once
#include "vmx/caps/caps.hpp"

#include <cstddef>
#include <cstdint>

namespace vmx {

// Memory types as EPT encodes them (SDM "Memory Type Used for Accessing EPT Paging
// Structures" and "EPT and Memory Typing"). The EPTP accepts only UC and WB.
enum class EptMemoryType : std::uint8_t {
    uncacheable = 0,
    write_combining = 1,
    write_through = 4,
    write_protected = 5,
    write_back = 6,
};

namespace ept_bits {
inline constexpr std::uint64_t read = 1ull << 0;
inline constexpr std::uint64_t write = 1ull << 1;
inline constexpr std::uint64_t execute = 1ull << 2;
inline constexpr std::uint64_t rwx = read | write | execute;
inline constexpr unsigned memory_type_shift = 3; // leaf bits 5:3
inline constexpr std::uint64_t ignore_pat = 1ull << 6;
inline constexpr std::uint64_t large_page = 1ull << 7;
inline constexpr std::uint64_t accessed = 1ull << 8;
inline constexpr std::uint64_t dirty = 1ull << 9;
inline constexpr std::uint64_t address_mask = 0x000ffffffffff000ull; // bits 51:12
inline constexpr std::uint64_t address_mask_2m = 0x000fffffffe00000ull;
inline constexpr std::uint64_t address_mask_1g = 0x000fffffc0000000ull;
} // namespace ept_bits

// IA32_VMX_EPT_VPID_CAP bits (SDM appendix "VPID and EPT Capabilities").
namespace ept_vpid_cap {
inline constexpr std::uint64_t execute_only = 1ull << 0;
inline constexpr std::uint64_t walk_length_4 = 1ull << 6;
inline constexpr std::uint64_t walk_length_5 = 1ull << 7;
inline constexpr std::uint64_t memory_type_uc = 1ull << 8;
inline constexpr std::uint64_t memory_type_wb = 1ull << 14;
inline constexpr std::uint64_t pages_2m = 1ull << 16;
inline constexpr std::uint64_t pages_1g = 1ull << 17;
inline constexpr std::uint64_t invept = 1ull << 20;
inline constexpr std::uint64_t accessed_dirty = 1ull << 21;
inline constexpr std::uint64_t supervisor_shadow_stack = 1ull << 23;
} // namespace ept_vpid_cap

inline constexpr std::uint64_t page_4k = 1ull << 12;
inline constexpr std::uint64_t page_2m = 1ull << 21;
inline constexpr std::uint64_t page_1g = 1ull << 30;

// EPTP: memory type of the paging structures in bits 2:0, page-walk length minus one in 5:3
// (4-level: 3), A/D flags enable in bit 6, PML4 address in bits 51:12.
constexpr std::uint64_t ept_pointer(std::uint64_t pml4_physical, EptMemoryType type,
                                    bool accessed_dirty) {
    return (pml4_physical & ept_bits::address_mask) | static_cast<std::uint64_t>(type) |
           (3ull << 3) | (accessed_dirty ? 1ull << 6 : 0ull);
}

// Whether VM entry would accept this EPTP on this CPU (SDM "Checks on VM-Execution Control
// Fields"): "enable EPT" allowed at all, memory type UC/WB as EPT_VPID_CAP allows, a walk
// length the CPU supports, A/D only if supported, bits 11:7 clear (bit 7 only with supervisor
// shadow-stack support), no address bit above 51 (MAXPHYADDR itself is not in VmxCaps).
bool ept_pointer_supported(std::uint64_t eptp, const VmxCaps& caps, const char** reason);

constexpr bool ept_supports_2m_pages(const VmxCaps& caps) {
    return (caps.ept_vpid_cap & ept_vpid_cap::pages_2m) != 0;
}

// A non-leaf entry: read/write/execute all allowed, so the leaf alone decides the permissions
// (an access is allowed only if every level allows it).
constexpr std::uint64_t ept_table_entry(std::uint64_t next_table_physical) {
    return (next_table_physical & ept_bits::address_mask) | ept_bits::rwx;
}
constexpr std::uint64_t ept_leaf_4k(std::uint64_t phys, std::uint64_t rwx, EptMemoryType type) {
    return (phys & ept_bits::address_mask) | (rwx & ept_bits::rwx) |
           (static_cast<std::uint64_t>(type) << ept_bits::memory_type_shift);
}
constexpr std::uint64_t ept_leaf_2m(std::uint64_t phys, std::uint64_t rwx, EptMemoryType type) {
    return (phys & ept_bits::address_mask_2m) | (rwx & ept_bits::rwx) | ept_bits::large_page |
           (static_cast<std::uint64_t>(type) << ept_bits::memory_type_shift);
}
constexpr std::uint64_t ept_leaf_1g(std::uint64_t phys, std::uint64_t rwx, EptMemoryType type) {
    return (phys & ept_bits::address_mask_1g) | (rwx & ept_bits::rwx) | ept_bits::large_page |
           (static_cast<std::uint64_t>(type) << ept_bits::memory_type_shift);
}

constexpr std::size_t ept_pml4_index(std::uint64_t gpa) { return (gpa >> 39) & 0x1ff; }
constexpr std::size_t ept_pdpt_index(std::uint64_t gpa) { return (gpa >> 30) & 0x1ff; }
constexpr std::size_t ept_pd_index(std::uint64_t gpa) { return (gpa >> 21) & 0x1ff; }
constexpr std::size_t ept_pt_index(std::uint64_t gpa) { return (gpa >> 12) & 0x1ff; }

// The exit qualification of an EPT violation: what the access was (bits 2:0), what the
// translation allowed (bits 5:3), whether a guest linear address exists (bit 7) and, if so,
// whether the access was to the final address (bit 8 = 1) or to a guest paging structure
// during the walk (bit 8 = 0), and NMI unblocking due to IRET (bit 12).
struct EptViolation {
    bool read, write, fetch;
    bool readable, writable, executable;
    bool linear_address_valid;
    bool caused_by_translation;
    bool nmi_unblocking_due_to_iret;
};

constexpr EptViolation decode_ept_violation(std::uint64_t q) {
    const auto bit = [q](unsigned n) { return ((q >> n) & 1) != 0; };
    return {bit(0), bit(1), bit(2), bit(3), bit(4), bit(5), bit(7), bit(7) && bit(8), bit(12)};
}

// Writes the kind of access ("read", "write", "instruction fetch", joined with " and " when an
// access was several) into out[0..size), always NUL-terminated when size > 0.
void describe_ept_access(const EptViolation& violation, char* out, std::size_t size);

// Host pointer -> physical address of a table page. Null means identity, which holds in UEFI
// boot services (physical == virtual) and for host-side tests.
using EptToPhysical = std::uint64_t (*)(const void* table);
// Physical address -> host pointer, for software walks. Null means identity.
using EptToTable = const std::uint64_t* (*)(std::uint64_t physical);

// One guest: guest-physical [0, guest_size) onto host-physical [host_base, host_base +
// guest_size), write-back, read/write/execute.
struct EptLayout {
    std::uint64_t guest_size;
    std::uint64_t host_base;
    bool use_2m_pages = true;    // clear when IA32_VMX_EPT_VPID_CAP[16] is 0
    bool accessed_dirty = false; // EPTP[6]; needs IA32_VMX_EPT_VPID_CAP[21]
};

struct EptResult {
    bool ok;
    std::uint64_t eptp;
    std::size_t tables_used;
    const char* reason; // null when ok
};

// Table pages an EptLayout needs: one PML4, and one PDPT per 512 GiB, one PD per 1 GiB and
// one PT per 2 MiB of guest space that 2 MiB pages do not cover.
constexpr std::size_t ept_tables_needed(const EptLayout& layout) {
    const auto span = [&layout](std::uint64_t unit) {
        return static_cast<std::size_t>((layout.guest_size + unit - 1) / unit);
    };
    std::size_t page_tables = span(page_2m);
    if (layout.use_2m_pages && layout.host_base % page_2m == 0)
        page_tables = layout.guest_size % page_2m != 0 ? 1 : 0;
    return 1 + span(1ull << 39) + span(page_1g) + page_tables;
}

// Builds EPT tables in a pool of 4 KiB-aligned, zeroed pages (a page that is not zero is
// refused rather than cleared: a stale table would map memory we never meant to map). Uses a
// 2 MiB page wherever guest and host addresses are both 2 MiB aligned and the whole 2 MiB is
// in the range, 4 KiB pages elsewhere, and maps nothing outside the ranges it is given.
// After a failure the pool holds a partial tree that must not be used.
class EptBuilder {
  public:
    EptBuilder(void* pool, std::size_t page_count, EptToPhysical to_physical = nullptr);

    // The whole guest of `layout`; returns the EPTP (WB paging structures, 4-level).
    EptResult build(const EptLayout& layout);
    // A further range, e.g. a device page: guest [gpa, gpa + size) -> host [hpa, hpa + size).
    // Refuses a range that overlaps one already mapped.
    bool map(std::uint64_t gpa, std::uint64_t hpa, std::uint64_t size, bool use_2m_pages,
             const char** reason);

    std::uint64_t pml4_physical() const { return pml4_physical_; }
    std::size_t tables_used() const { return used_; }

  private:
    std::uint64_t* page(std::size_t index) const;
    std::uint64_t physical(const std::uint64_t* table) const;
    std::uint64_t* allocate(const char** reason);
    std::uint64_t* table_at(std::uint64_t physical) const;
    std::uint64_t* child(std::uint64_t& entry, const char** reason);
    bool map_level(std::uint64_t* table, unsigned level, std::uint64_t gpa, std::uint64_t end,
                   std::uint64_t host_minus_guest, bool use_2m, const char** reason);

    std::uint64_t* pool_;
    std::size_t count_;
    EptToPhysical to_physical_;
    std::size_t used_ = 0;
    std::uint64_t* pml4_ = nullptr;
    std::uint64_t pml4_physical_ = 0;
};

// A software walk of a 4-level EPT, as the CPU does it: an entry with bits 2:0 all 0 is not
// present; bit 7 in a PDPTE or PDE ends the walk at a 1 GiB or 2 MiB page.
struct EptWalk {
    bool present;
    std::uint64_t host_physical;
    std::uint64_t leaf;  // the entry that mapped it
    unsigned page_shift; // 12, 21 or 30
};
EptWalk ept_walk(const std::uint64_t* pml4, std::uint64_t gpa, EptToTable to_table = nullptr);
std::uint64_t ept_translate(const std::uint64_t* pml4, std::uint64_t gpa, bool* present,
                            EptToTable to_table = nullptr);

} // namespace vmx
