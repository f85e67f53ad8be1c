// Whether the configured guests fit in the memory the firmware has free, decided before
// anything is allocated: a run that asks for more than the machine has stops at once, naming the
// guest, the key and both sizes, instead of failing half-way through its set-up.
#pragma once
#include <cstddef>
#include <cstdint>

#include "vmx/config/config.hpp"

namespace vmx {

// 4 KiB pages one guest of `memory_mib` takes, at most: its memory, its EPT tables (counted as
// if no 2 MiB page could be used), its VMCS and its FPU/SSE/AVX save area.
std::uint64_t guest_pages_needed(std::uint32_t memory_mib);

// Pages the run takes besides its guests (MSR bitmap, VMXON region, host GDT, idle IDT, host
// FPU area, and a margin for the firmware's own allocations while it runs).
inline constexpr std::uint64_t session_pages_needed = 64;

struct MemoryFit {
    bool ok = true;
    std::uint64_t pages_needed = 0;   // every guest, and the session
    std::size_t first_misfit = 0;     // !ok: the first guest at which the total no longer fits,
    bool contiguous = false;          //      or whose own memory exceeds the largest free range
};

// Checks the finalized `config` against `free_pages` in all and `largest_range` pages contiguous
// (each guest's memory is one allocation).
MemoryFit fit_guests(const Config& config, std::uint64_t free_pages, std::uint64_t largest_range);

// "metronome.cfg:LINE: key 'memory_mib': guest NAME: ..." in words, for a MemoryFit that is not ok.
void describe_misfit(const Config& config, const MemoryFit& fit, std::uint64_t free_pages,
                     std::uint64_t largest_range, Text& out);

} // namespace vmx
