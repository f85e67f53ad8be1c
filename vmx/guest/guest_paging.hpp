// A software walk of the guest's own 4-level page tables, for the exits where the hypervisor
// touches guest memory through a guest-linear address (string I/O, the instruction at RIP). It
// gives the answer the processor would give for the same access: the guest-physical address, a
// page fault with its error code, or an access to a GPA outside the guest's memory (which on the
// processor is an EPT violation: SDM "EPT Violations").
#pragma once
#include <cstddef>
#include <cstdint>

namespace vmx {

// The 4 KiB page: the unit a walk translates within (larger pages are whole multiples of it).
inline constexpr std::uint64_t guest_page_size = 4096;

enum class WalkFault : std::uint8_t {
    none,
    not_canonical,  // bits 63:48 are not a sign extension of bit 47: #GP(0), not #PF
    page_fault,     // not present or not allowed: #PF with `error_code`, CR2 = the address
    outside_memory, // a paging structure or the page itself lies at `physical`, outside memory
};

// #PF error code bits (SDM "Interrupt 14—Page-Fault Exception (#PF)").
namespace page_fault_error {
inline constexpr std::uint32_t present = 1u << 0; // a protection violation, not a missing entry
inline constexpr std::uint32_t write = 1u << 1;
inline constexpr std::uint32_t user = 1u << 2;
inline constexpr std::uint32_t fetch = 1u << 4;
} // namespace page_fault_error

struct WalkAccess {
    bool write = false;         // the access writes
    bool user = false;          // CPL 3
    bool write_protect = true;  // CR0.WP: supervisor writes honour read-only pages
    bool fetch = false;
};

struct GuestWalk {
    WalkFault fault = WalkFault::none;
    std::uint64_t physical = 0;  // none: the GPA; outside_memory: the GPA that is outside
    std::uint32_t error_code = 0; // page_fault: the #PF error code
    bool paging_structure = false; // outside_memory: a table entry (a read), not the page
    bool ok() const { return fault == WalkFault::none; }
};

// Translates `linear` through the tables rooted at `cr3` (SDM "4-Level Paging"; 4 KiB, 2 MiB and
// 1 GiB pages), checking R/W and U/S at every level as the processor does for `access`.
GuestWalk walk_guest_page_tables(const std::uint8_t* memory, std::uint64_t memory_size,
                                 std::uint64_t cr3, std::uint64_t linear, WalkAccess access);

// Copies up to `n` bytes from guest-linear `linear` into `out`, one walk per page (`paging`
// false: linear is physical); returns how many could be read before a fault or the end of the
// guest's memory (what the processor fetches at RIP: the instruction's bytes).
std::size_t read_guest_linear(const std::uint8_t* memory, std::uint64_t memory_size, bool paging,
                              std::uint64_t cr3, std::uint64_t linear, WalkAccess access,
                              std::uint8_t* out, std::size_t n);

} // namespace vmx
