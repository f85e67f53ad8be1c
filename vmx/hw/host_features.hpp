// What the host processor offers that the session switches per guest: XSAVE (and which XCR0
// components, with the largest area any XCR0 needs), RDTSCP (IA32_TSC_AUX) and NX. Read with
// CPUID on the CPU that asks. Target only.
#pragma once
#include <cstddef>
#include <cstdint>

#include "vmx/arch/x86.hpp"
#include "vmx/hw/cpu.hpp"

namespace vmx::hw {

// XCR0 components the hypervisor switches: x87, SSE, AVX and the three AVX-512 components.
// Others (MPX, PKRU, AMX) stay disabled in guests.
inline constexpr std::uint64_t switched_xcr0 = xcr0::x87 | xcr0::sse | xcr0::avx | xcr0::avx512;

struct HostFeatures {
    bool xsave = false, rdtscp = false, nx = false;
    std::uint64_t xsave_mask = 0;
    std::size_t extended_size = 512;
};

inline HostFeatures read_host_features() {
    HostFeatures c;
    const CpuidResult one = cpuid(1);
    c.xsave = (one.ecx & cpuid_bit::xsave) != 0;
    const CpuidResult ext = cpuid(0x80000001u);
    c.rdtscp = (ext.edx & cpuid_bit::rdtscp) != 0;
    c.nx = (ext.edx & cpuid_bit::nx) != 0;
    if (c.xsave) {
        const CpuidResult d = cpuid(0xd, 0);
        c.xsave_mask = ((static_cast<std::uint64_t>(d.edx) << 32) | d.eax) & switched_xcr0;
        c.extended_size = d.ecx;  // the largest area any XCR0 needs
    }
    return c;
}

} // namespace vmx::hw
