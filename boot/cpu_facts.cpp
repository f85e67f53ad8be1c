#include "boot/cpu_facts.hpp"

#include "vmx/hw/cpu.hpp"

#include <cstdint>

namespace boot {
namespace {

// CPUID returns strings as little-endian bytes packed into registers.
void put_register(char* out, std::uint32_t reg) {
    for (unsigned i = 0; i < 4; ++i)
        out[i] = static_cast<char>((reg >> (8 * i)) & 0xff);
}

std::uint64_t read_msr(void*, std::uint32_t index) {
    return vmx::hw::rdmsr(index);
}

} // namespace

vmx::CpuFacts read_cpu_facts() {
    vmx::CpuFacts f;
    const vmx::hw::CpuidResult leaf0 = vmx::hw::cpuid(0);
    f.max_basic_leaf = leaf0.eax;
    put_register(f.vendor, leaf0.ebx);     // "Genu"
    put_register(f.vendor + 4, leaf0.edx); // "ineI"
    put_register(f.vendor + 8, leaf0.ecx); // "ntel"
    f.vendor[12] = '\0';

    const vmx::hw::CpuidResult leaf1 = vmx::hw::cpuid(1);
    f.vmx = ((leaf1.ecx >> 5) & 1) != 0;
    f.hypervisor = ((leaf1.ecx >> 31) & 1) != 0;

    if (f.max_basic_leaf >= 0x15) {
        const vmx::hw::CpuidResult leaf15 = vmx::hw::cpuid(0x15);
        f.has_leaf_15h = true;
        f.leaf_15h_eax = leaf15.eax;
        f.leaf_15h_ebx = leaf15.ebx;
        f.leaf_15h_ecx = leaf15.ecx;
    }

    // The brand string: 48 bytes in leaves 80000002H..80000004H, NUL-padded.
    if (vmx::hw::cpuid(0x80000000u).eax >= 0x80000004u) {
        for (std::uint32_t k = 0; k < 3; ++k) {
            const vmx::hw::CpuidResult r = vmx::hw::cpuid(0x80000002u + k);
            char* out = f.brand + 16 * k;
            put_register(out, r.eax);
            put_register(out + 4, r.ebx);
            put_register(out + 8, r.ecx);
            put_register(out + 12, r.edx);
        }
    }
    f.brand[48] = '\0';

    vmx::read_vmx_msrs(f, vmx::MsrReader{read_msr, nullptr});
    return f;
}

} // namespace boot
