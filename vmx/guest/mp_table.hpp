// The MultiProcessor Specification 1.4 tables ("MP Floating Pointer Structure", "MP Configuration
// Table Header" and its base entries) that tell an operating system where its local APIC is and
// which processors exist, without ACPI. Linux finds them by scanning low memory (mpparse.c,
// smp_scan_config) and, with one processor listed, sets up its local APIC and the APIC timer;
// without any table it never starts the APIC timer (it then needs a PIT). Pure.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vmx {

struct MpProcessor {
    std::uint8_t apic_id = 0;        // must equal CPUID.1:EBX[31:24] and the x2APIC ID
    std::uint8_t apic_version = 0x14; // an integrated APIC
    std::uint32_t signature = 0;     // CPUID.1:EAX (family, model, stepping)
    std::uint32_t features = 0;      // CPUID.1:EDX
};

// Bytes write_mp_table writes: the floating pointer, the header, one processor, the ISA bus and
// the two local interrupt entries (ExtINT on LINT0, NMI on LINT1).
inline constexpr std::size_t mp_table_size = 16 + 44 + 20 + 8 + 8 + 8;

// Writes the tables at `at`, which is guest-physical address `gpa` (16-byte aligned, below
// 4 GiB), for one processor: the floating pointer first, the configuration table right after it.
// Returns false (writing nothing) when `capacity` is less than mp_table_size or gpa is unfit.
bool write_mp_table(std::uint8_t* at, std::uint64_t gpa, std::size_t capacity, const MpProcessor& cpu);

// The local APIC's physical address the tables announce (the architectural default).
inline constexpr std::uint32_t mp_local_apic_address = 0xfee00000u;

} // namespace vmx
