// A software walk of the guest's own 4-level page tables, for the rare exits that carry a
// guest-linear address (string I/O). Reads only inside guest memory; anything else fails.
#pragma once
#include <cstdint>

namespace vmx {

// Translates `linear` through the tables rooted at `cr3` (SDM "4-Level Paging"); 4 KiB,
// 2 MiB and 1 GiB pages. False when a level is not present or a table lies outside memory.
bool guest_linear_to_physical(const std::uint8_t* memory, std::uint64_t memory_size,
                              std::uint64_t cr3, std::uint64_t linear, std::uint64_t* physical);

} // namespace vmx
