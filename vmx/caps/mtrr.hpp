// The memory type the MTRRs give a physical address (SDM "Memory Type Range Registers (MTRRs)",
// "MTRR Precedences"). Pure: the shell reads the MSRs into MtrrState. The idle code needs it
// because MONITOR arms only on write-back memory (SDM "MONITOR—Set Up Monitor Address").
#pragma once
#include <cstdint>

namespace vmx {

namespace memory_type {
inline constexpr std::uint8_t uncacheable = 0;
inline constexpr std::uint8_t write_combining = 1;
inline constexpr std::uint8_t write_through = 4;
inline constexpr std::uint8_t write_protected = 5;
inline constexpr std::uint8_t write_back = 6;
} // namespace memory_type

namespace mtrr_msr {
inline constexpr std::uint32_t cap = 0xfe;            // IA32_MTRRCAP
inline constexpr std::uint32_t def_type = 0x2ff;      // IA32_MTRR_DEF_TYPE
inline constexpr std::uint32_t phys_base0 = 0x200;    // IA32_MTRR_PHYSBASE0, PHYSMASK0 = +1, ...
inline constexpr std::uint32_t fix64k_00000 = 0x250;
inline constexpr std::uint32_t fix16k_80000 = 0x258;  // and 0x259 for A0000
inline constexpr std::uint32_t fix4k_c0000 = 0x268;   // up to 0x26f for F8000
} // namespace mtrr_msr

inline constexpr unsigned kMaxVariableMtrrs = 16;

struct MtrrState {
    std::uint64_t cap = 0;       // [7:0] variable ranges, bit 8 fixed ranges supported
    std::uint64_t def_type = 0;  // [7:0] default type, bit 10 fixed ranges on, bit 11 MTRRs on
    std::uint64_t fixed[11] = {};// 64K (1), 16K (2), 4K (8) registers, in MSR order
    std::uint64_t base[kMaxVariableMtrrs] = {};
    std::uint64_t mask[kMaxVariableMtrrs] = {};
    unsigned physical_address_bits = 36; // CPUID.80000008H:EAX[7:0]
};

std::uint8_t mtrr_memory_type(const MtrrState& mtrr, std::uint64_t physical);

inline constexpr std::uint64_t kNoWriteBackLine = ~0ull;

// A 64-byte line of write-back memory to MONITOR: `preferred` when it is write-back, else the
// second page of a write-back variable range or a write-back fixed range at or above 64 KiB
// (never page 0, which firmware may leave unmapped); kNoWriteBackLine when there is none.
// Monitoring only watches a line: it never writes it.
std::uint64_t write_back_monitor_line(const MtrrState& mtrr, std::uint64_t preferred);

} // namespace vmx
