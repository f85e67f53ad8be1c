#include "vmx/vmcs/msr_bitmap.hpp"

#include <doctest/doctest.h>
#include <initializer_list>
#include <vector>

#include "vmx/arch/msr.hpp"
#include "vmx/run/vcpu.hpp"

TEST_CASE("msr bitmap: host-owned MSRs exit in both directions") {
    std::vector<std::uint8_t> page(vmx::msr_bitmap_size);
    vmx::build_msr_bitmap(page.data());
    for (std::uint32_t m : {vmx::msr::ia32_feature_control, vmx::msr::ia32_apic_base, vmx::msr::ia32_tsc_adjust,
                            vmx::msr::ia32_tsc_deadline, vmx::msr::ia32_debugctl, vmx::msr::ia32_vmx_basic}) {
        CHECK(vmx::msr_access_exits(page.data(), m, false));
        CHECK(vmx::msr_access_exits(page.data(), m, true));
    }
}

TEST_CASE("msr bitmap: MSRs in the VMCS pass through; those the hypervisor switches and the TSC only for reads") {
    std::vector<std::uint8_t> page(vmx::msr_bitmap_size);
    vmx::build_msr_bitmap(page.data());
    // KERNEL_GS_BASE too: SWAPGS changes it without an exit, so it is read back at each switch.
    for (std::uint32_t m : {vmx::msr::ia32_fs_base, vmx::msr::ia32_gs_base, vmx::msr::ia32_efer,
                            vmx::msr::ia32_sysenter_eip, vmx::msr::ia32_pat, vmx::msr::ia32_kernel_gs_base}) {
        CHECK_FALSE(vmx::msr_access_exits(page.data(), m, false));
        CHECK_FALSE(vmx::msr_access_exits(page.data(), m, true));
    }
    for (std::uint32_t m : {vmx::msr::ia32_lstar, vmx::msr::ia32_star, vmx::msr::ia32_cstar, vmx::msr::ia32_fmask,
                            vmx::msr::ia32_tsc_aux}) {
        CHECK_FALSE(vmx::msr_access_exits(page.data(), m, false));
        CHECK(vmx::msr_access_exits(page.data(), m, true));
        CHECK(vmx::msr_passes_through(m, false));
        CHECK_FALSE(vmx::msr_passes_through(m, true));
    }
    CHECK_FALSE(vmx::msr_access_exits(page.data(), vmx::msr::ia32_tsc, false));
    CHECK(vmx::msr_access_exits(page.data(), vmx::msr::ia32_tsc, true));
}

TEST_CASE("msr bitmap: every MSR the hypervisor switches has its own place in a guest's Vcpu") {
    vmx::SyscallMsrs m;
    std::vector<const std::uint64_t*> slots;
    for (std::uint32_t msr : vmx::hypervisor_switched_msrs) {
        const std::uint64_t* slot = vmx::syscall_msr_slot(m, msr);
        REQUIRE(slot != nullptr);
        for (const std::uint64_t* other : slots) CHECK(other != slot);
        slots.push_back(slot);
    }
    // The one more member is KERNEL_GS_BASE, read back at switches instead.
    CHECK((slots.size() + 1) * sizeof(std::uint64_t) == sizeof(vmx::SyscallMsrs));
    for (const std::uint64_t* slot : slots) CHECK(slot != &m.kernel_gs_base);
    CHECK(vmx::syscall_msr_slot(m, vmx::msr::ia32_kernel_gs_base) == nullptr);
    CHECK(vmx::syscall_msr_slot(m, vmx::msr::ia32_efer) == nullptr);
}

TEST_CASE("msr bitmap: MSRs outside the two covered ranges always exit") {
    std::vector<std::uint8_t> page(vmx::msr_bitmap_size, 0);
    CHECK(vmx::msr_access_exits(page.data(), 0x40000000u, false));
    CHECK(vmx::msr_access_exits(page.data(), 0xc0002000u, true));
    CHECK_FALSE(vmx::msr_access_exits(page.data(), 0x1fffu, true));
    CHECK(vmx::msr_passes_through(vmx::msr::ia32_efer, true));
    CHECK_FALSE(vmx::msr_passes_through(vmx::msr::ia32_apic_base, false));
}
