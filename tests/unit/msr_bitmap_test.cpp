#include "vmx/vmcs/msr_bitmap.hpp"

#include <doctest/doctest.h>
#include <initializer_list>
#include <vector>

#include "vmx/arch/msr.hpp"

TEST_CASE("msr bitmap: host-owned MSRs exit in both directions") {
    std::vector<std::uint8_t> page(vmx::msr_bitmap_size);
    vmx::build_msr_bitmap(page.data());
    for (std::uint32_t m : {vmx::msr::ia32_feature_control, vmx::msr::ia32_apic_base, vmx::msr::ia32_tsc_adjust,
                            vmx::msr::ia32_tsc_deadline, vmx::msr::ia32_debugctl, vmx::msr::ia32_vmx_basic}) {
        CHECK(vmx::msr_access_exits(page.data(), m, false));
        CHECK(vmx::msr_access_exits(page.data(), m, true));
    }
}

TEST_CASE("msr bitmap: per-guest MSRs pass through, the TSC only for reads") {
    std::vector<std::uint8_t> page(vmx::msr_bitmap_size);
    vmx::build_msr_bitmap(page.data());
    for (std::uint32_t m : {vmx::msr::ia32_lstar, vmx::msr::ia32_star, vmx::msr::ia32_fmask, vmx::msr::ia32_kernel_gs_base,
                            vmx::msr::ia32_tsc_aux, vmx::msr::ia32_efer, vmx::msr::ia32_sysenter_eip, vmx::msr::ia32_pat}) {
        CHECK_FALSE(vmx::msr_access_exits(page.data(), m, false));
        CHECK_FALSE(vmx::msr_access_exits(page.data(), m, true));
    }
    CHECK_FALSE(vmx::msr_access_exits(page.data(), vmx::msr::ia32_tsc, false));
    CHECK(vmx::msr_access_exits(page.data(), vmx::msr::ia32_tsc, true));
}

TEST_CASE("msr bitmap: MSRs outside the two covered ranges always exit") {
    std::vector<std::uint8_t> page(vmx::msr_bitmap_size, 0);
    CHECK(vmx::msr_access_exits(page.data(), 0x40000000u, false));
    CHECK(vmx::msr_access_exits(page.data(), 0xc0002000u, true));
    CHECK_FALSE(vmx::msr_access_exits(page.data(), 0x1fffu, true));
    CHECK(vmx::msr_passes_through(vmx::msr::ia32_lstar, true));
    CHECK_FALSE(vmx::msr_passes_through(vmx::msr::ia32_apic_base, false));
}
