#include "vmx/vmcs/msr_bitmap.hpp"

#include "vmx/arch/msr.hpp"

namespace vmx {
namespace {

// Both directions pass: switched by the VMCS (the guest-state area, or loaded and saved by VM
// entry and exit), and KERNEL_GS_BASE.
constexpr std::uint32_t kBothWays[] = {
    msr::ia32_fs_base,     msr::ia32_gs_base,      msr::ia32_sysenter_cs, msr::ia32_sysenter_esp,
    msr::ia32_sysenter_eip, msr::ia32_efer,        msr::ia32_pat,
    // Switched by the hypervisor, but read back at each switch (SWAPGS changes it without an exit).
    msr::ia32_kernel_gs_base,
};

// Byte offset of the bit for (msr, write): read-low at 0, read-high at 1024, write-low at 2048,
// write-high at 3072; low covers 0..0x1fff, high covers 0xc0000000..0xc0001fff.
bool bit_position(std::uint32_t msr, bool write, std::size_t* byte, unsigned* bit) {
    std::size_t base = 0;
    std::uint32_t index = 0;
    if (msr <= 0x1fffu) {
        index = msr;
    } else if (msr >= 0xc0000000u && msr <= 0xc0001fffu) {
        index = msr - 0xc0000000u;
        base = 1024;
    } else {
        return false;
    }
    if (write) base += 2048;
    *byte = base + index / 8;
    *bit = index % 8;
    return true;
}

void clear_bit(std::uint8_t* page, std::uint32_t msr, bool write) {
    std::size_t byte = 0;
    unsigned bit = 0;
    if (bit_position(msr, write, &byte, &bit)) page[byte] = static_cast<std::uint8_t>(page[byte] & ~(1u << bit));
}

} // namespace

bool msr_passes_through(std::uint32_t msr, bool write) {
    // Reading the TSC is harmless and RDTSC does not exit either; writing it would move the
    // host's clock (and every other guest's).
    if (msr == msr::ia32_tsc) return !write;
    for (std::uint32_t m : kBothWays) {
        if (m == msr) return true;
    }
    for (std::uint32_t m : hypervisor_switched_msrs) {
        if (m == msr) return !write;
    }
    return false;
}

void build_msr_bitmap(std::uint8_t* page) {
    for (std::size_t i = 0; i < msr_bitmap_size; ++i) page[i] = 0xff;
    for (std::uint32_t m : kBothWays) {
        clear_bit(page, m, false);
        clear_bit(page, m, true);
    }
    for (std::uint32_t m : hypervisor_switched_msrs) clear_bit(page, m, false);
    clear_bit(page, msr::ia32_tsc, false);
}

bool msr_access_exits(const std::uint8_t* page, std::uint32_t msr, bool write) {
    std::size_t byte = 0;
    unsigned bit = 0;
    if (!bit_position(msr, write, &byte, &bit)) return true;
    return ((page[byte] >> bit) & 1u) != 0;
}

} // namespace vmx
