// Where things live inside a guest's own memory, per guest/ABI.md, and the pure code that
// prepares that memory before the first VM entry: identity-mapping page tables, a GDT with a
// 64-bit code segment, a data segment and a TSS, and the start-info page.
// Guest-physical address 0 is `memory` (a host pointer): the caller owns the bytes.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vmx {

namespace guest_layout {
inline constexpr std::uint64_t pml4 = 0x1000;
inline constexpr std::uint64_t pdpt = 0x2000;
inline constexpr std::uint64_t pd = 0x3000;
inline constexpr std::uint64_t pt_tail = 0x4000;      // 4 KiB pages for an odd last MiB
inline constexpr std::uint64_t gdt = 0x5000;
inline constexpr std::uint64_t tss = 0x5100;
inline constexpr std::uint64_t start_info_page = 0x6000;
inline constexpr std::uint64_t image_base = 0x10000;
inline constexpr std::uint64_t stack_reserve = 0x10000;  // the image may not reach the top 64 KiB
inline constexpr std::uint16_t code_selector = 0x08;
inline constexpr std::uint16_t data_selector = 0x10;
inline constexpr std::uint16_t tss_selector = 0x18;
inline constexpr std::uint32_t gdt_limit = 0x27;       // null, code, data, 16-byte TSS
inline constexpr std::uint32_t tss_limit = 0x67;       // 104-byte TSS, no I/O bitmap
inline constexpr std::uint8_t tick_vector = 0x20;
inline constexpr std::uint64_t min_memory = 1ull << 20;
inline constexpr std::uint64_t max_memory = 256ull << 20;
} // namespace guest_layout

// Offsets inside the start-info page (guest/ABI.md, "Start-info page").
namespace start_info {
inline constexpr std::size_t magic = 0x00;        // the 8 bytes "MTRNINFO"
inline constexpr std::size_t abi_version = 0x08;  // u32
inline constexpr std::size_t guest_index = 0x0c;  // u32
inline constexpr std::size_t memory_size = 0x10;  // u64
inline constexpr std::size_t param = 0x18;        // u64
inline constexpr std::size_t tick_hz = 0x20;      // u32
inline constexpr std::size_t tick_vector = 0x24;  // u32
inline constexpr std::size_t tsc_hz = 0x28;       // u64
inline constexpr std::size_t name = 0x30;         // char[32]
inline constexpr std::size_t image = 0x50;        // char[64]
inline constexpr std::size_t progress = 0x100;    // u64, written by the guest
inline constexpr std::size_t ticks_seen = 0x108;  // u64, written by the guest
inline constexpr std::size_t guest_status = 0x110;
inline constexpr std::uint32_t current_abi_version = 1;
} // namespace start_info

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
