// The pure code that prepares a guest's memory before the first VM entry, per guest/ABI.md:
// identity-mapping page tables, a GDT with a 64-bit code segment, a data segment and a TSS, and
// the start-info page. Where each lives is the ABI's to say (guest/runtime/abi.hpp).
// Guest-physical address 0 is `memory` (a host pointer): the caller owns the bytes.
#pragma once
#include <cstddef>
#include <cstdint>

#include "guest/runtime/abi.hpp"

namespace vmx {

struct GuestIdentity {
    std::uint32_t index;
    const char* name;
    const char* image;
    std::uint64_t param;
    std::uint32_t tick_hz;
    std::uint64_t tsc_hz;
};

// Register and control-register values the guest is entered with (guest/ABI.md, "At entry").
struct GuestEntryState {
    std::uint64_t rip, rsp, rdi, rsi;
    std::uint64_t cr0, cr3, cr4, efer;
    std::uint64_t gdt_base, tss_base;
};

// The GDT (null, 64-bit code, data, busy TSS) and the TSS at the ABI's addresses: what VM entry
// loads the guest's segments from. Linux guests get the same.
void write_guest_gdt(std::uint8_t* memory);

// Fills the page tables, GDT, TSS and start-info page; returns false (and says why) when the
// memory size is not a whole number of MiB within the supported range.
bool prepare_guest_memory(std::uint8_t* memory, std::uint64_t memory_size,
                          const GuestIdentity& identity, const char** reason);

// The architectural entry state for a guest whose image entry point is `entry`.
// `xsave` adds CR4.OSXSAVE; `nx` adds EFER.NXE (only when the CPU has it).
GuestEntryState guest_entry_state(std::uint64_t memory_size, std::uint64_t entry,
                                  std::uint64_t param, bool xsave, bool nx);

// Copies a flat image to image_base; false when it does not fit below the stack reserve.
bool load_flat_image(std::uint8_t* memory, std::uint64_t memory_size, const std::uint8_t* image,
                     std::size_t image_size, const char** reason);

// The guest's progress counter and tick count, as the hypervisor reads them for the report.
std::uint64_t read_guest_u64(const std::uint8_t* memory, std::uint64_t memory_size,
                             std::uint64_t guest_physical);

} // namespace vmx
