// The processor's architectural bits that Metronome uses, each defined once (SDM Vol. 3 "Control
// Registers", "EFLAGS Register", "Extended Feature Enable Register"; Vol. 1 "XSAVE-Supported
// Features"; Vol. 2 "CPUID—CPU Identification"). Constants only; what to do with them is
// decided elsewhere.
#pragma once
#include <cstdint>

namespace vmx {

namespace cr0 {
inline constexpr std::uint64_t pe = 1ull << 0;
inline constexpr std::uint64_t mp = 1ull << 1;
inline constexpr std::uint64_t em = 1ull << 2;
inline constexpr std::uint64_t ts = 1ull << 3;
inline constexpr std::uint64_t et = 1ull << 4;
inline constexpr std::uint64_t ne = 1ull << 5;
inline constexpr std::uint64_t wp = 1ull << 16;
inline constexpr std::uint64_t am = 1ull << 18;
inline constexpr std::uint64_t nw = 1ull << 29;
inline constexpr std::uint64_t cd = 1ull << 30;
inline constexpr std::uint64_t pg = 1ull << 31;
} // namespace cr0

namespace cr4 {
inline constexpr std::uint64_t vme = 1ull << 0;
inline constexpr std::uint64_t pvi = 1ull << 1;
inline constexpr std::uint64_t tsd = 1ull << 2;
inline constexpr std::uint64_t de = 1ull << 3;
inline constexpr std::uint64_t pse = 1ull << 4;
inline constexpr std::uint64_t pae = 1ull << 5;
inline constexpr std::uint64_t mce = 1ull << 6;
inline constexpr std::uint64_t pge = 1ull << 7;
inline constexpr std::uint64_t pce = 1ull << 8;
inline constexpr std::uint64_t osfxsr = 1ull << 9;
inline constexpr std::uint64_t osxmmexcpt = 1ull << 10;
inline constexpr std::uint64_t umip = 1ull << 11;
inline constexpr std::uint64_t la57 = 1ull << 12;
inline constexpr std::uint64_t vmxe = 1ull << 13;
inline constexpr std::uint64_t smxe = 1ull << 14;
inline constexpr std::uint64_t fsgsbase = 1ull << 16;
inline constexpr std::uint64_t pcide = 1ull << 17;
inline constexpr std::uint64_t osxsave = 1ull << 18;
inline constexpr std::uint64_t smep = 1ull << 20;
inline constexpr std::uint64_t smap = 1ull << 21;
inline constexpr std::uint64_t pke = 1ull << 22;
} // namespace cr4

namespace rflags {
inline constexpr std::uint64_t fixed1 = 1ull << 1; // reserved, always 1
inline constexpr std::uint64_t tf = 1ull << 8;
inline constexpr std::uint64_t if_ = 1ull << 9;
inline constexpr std::uint64_t df = 1ull << 10;
} // namespace rflags

namespace efer {
inline constexpr std::uint64_t sce = 1ull << 0;
inline constexpr std::uint64_t lme = 1ull << 8;
inline constexpr std::uint64_t lma = 1ull << 10;
inline constexpr std::uint64_t nxe = 1ull << 11;
} // namespace efer

// XCR0 state components (SDM Vol. 1 "Enabling the XSAVE Feature Set and XSAVE-Enabled Features").
namespace xcr0 {
inline constexpr std::uint64_t x87 = 1ull << 0;
inline constexpr std::uint64_t sse = 1ull << 1;
inline constexpr std::uint64_t avx = 1ull << 2;
inline constexpr std::uint64_t avx512 = 0xe0; // opmask, ZMM_Hi256, Hi16_ZMM: all or none
} // namespace xcr0

// CPUID feature bits, as (leaf[.subleaf], register, bit) (SDM Vol. 2 "CPUID—CPU Identification").
namespace cpuid_bit {
// Leaf 1, ECX.
inline constexpr std::uint32_t monitor = 1u << 3;
inline constexpr std::uint32_t vmx = 1u << 5;
inline constexpr std::uint32_t smx = 1u << 6;
inline constexpr std::uint32_t pdcm = 1u << 15; // IA32_PERF_CAPABILITIES
inline constexpr std::uint32_t x2apic = 1u << 21;
inline constexpr std::uint32_t tsc_deadline = 1u << 24;
inline constexpr std::uint32_t xsave = 1u << 26;
inline constexpr std::uint32_t osxsave = 1u << 27;
inline constexpr std::uint32_t hypervisor = 1u << 31;
// Leaf 1, EDX.
inline constexpr std::uint32_t apic = 1u << 9;
// Leaf 7 subleaf 0, EBX.
inline constexpr std::uint32_t tsc_adjust = 1u << 1;
// Leaf 0xD subleaf 1, EAX.
inline constexpr std::uint32_t xsaves = 1u << 3;
// Leaf 0x80000001, EDX.
inline constexpr std::uint32_t nx = 1u << 20;
inline constexpr std::uint32_t rdtscp = 1u << 27;
} // namespace cpuid_bit

} // namespace vmx
