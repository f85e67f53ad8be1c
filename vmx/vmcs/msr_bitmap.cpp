#include "vmx/vmcs/msr_bitmap.hpp"

#include "vmx/arch/msr.hpp"

namespace vmx {
namespace {

constexpr std::uint32_t kSwitched[] = {
    msr::ia32_fs_base,       msr::ia32_gs_base, msr::ia32_kernel_gs_base, msr::ia32_star,
    msr::ia32_lstar,         msr::ia32_cstar,   msr::ia32_fmask,          msr::ia32_tsc_aux,
    msr::ia32_sysenter_cs,   msr::ia32_sysenter_esp, msr::ia32_sysenter_eip,
    msr::ia32_efer,          msr::ia32_pat,
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

} // namespace

bool msr_passes_through(std::uint32_t msr, bool write) {
    // Reading the TSC is harmless and RDTSC does not exit either; writing it would move the
    // host's clock (and every other guest's).
    if (msr == msr::ia32_tsc) return !write;
    for (std::uint32_t m : kSwitched) {
        if (m == msr) return true;
    }
    return false;
}

void build_msr_bitmap(std::uint8_t* page) {
    for (std::size_t i = 0; i < msr_bitmap_size; ++i) page[i] = 0xff;
    for (int direction = 0; direction < 2; ++direction) {
        const bool write = direction == 1;
        for (std::uint32_t m : kSwitched) {
            std::size_t byte = 0;
            unsigned bit = 0;
            if (bit_position(m, write, &byte, &bit)) page[byte] = static_cast<std::uint8_t>(page[byte] & ~(1u << bit));
        }
    }
    std::size_t byte = 0;
    unsigned bit = 0;
    if (bit_position(msr::ia32_tsc, false, &byte, &bit)) page[byte] = static_cast<std::uint8_t>(page[byte] & ~(1u << bit));
}

bool msr_access_exits(const std::uint8_t* page, std::uint32_t msr, bool write) {
    std::size_t byte = 0;
    unsigned bit = 0;
    if (!bit_position(msr, write, &byte, &bit)) return true;
    return ((page[byte] >> bit) & 1u) != 0;
}

} // namespace vmx
