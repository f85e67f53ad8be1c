#include "vmx/arch/control_registers.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>

namespace {

// The FIXED MSRs of Bochs' corei7_skylake_x (testdata/vmx-caps), also typical of real CPUs.
constexpr vmx::VmxCaps bochs_caps() {
    vmx::VmxCaps c;
    c.cr0_fixed0 = 0x80000021;
    c.cr0_fixed1 = 0xffffffff;
    c.cr4_fixed0 = 0x2000;
    c.cr4_fixed1 = 0x3727ff;
    return c;
}

std::uint64_t msr_from_file(const std::filesystem::path& file, const std::string& name) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(name + "=", 0) == 0) return std::stoull(line.substr(name.size() + 1), nullptr, 16);
    FAIL("no " << name << " in " << file);
    return 0;
}

} // namespace

static_assert(vmx::cr0::pe == 1 && vmx::cr0::ne == 0x20 && vmx::cr0::wp == 0x10000);
static_assert(vmx::cr0::nw == 0x20000000 && vmx::cr0::cd == 0x40000000 && vmx::cr0::pg == 0x80000000);
static_assert(vmx::cr4::pae == 0x20 && vmx::cr4::vmxe == 0x2000 && vmx::cr4::osxsave == 0x40000);
static_assert(vmx::cr4::la57 == 0x1000 && vmx::cr4::pcide == 0x20000 && vmx::cr4::pke == 0x400000);
static_assert(vmx::adjust_cr0(0, bochs_caps(), false) == 0x80000021);
static_assert(vmx::adjust_cr0(0, bochs_caps(), true) == 0x20);
static_assert(vmx::adjust_cr4(vmx::cr4::pae, bochs_caps()) == (vmx::cr4::pae | vmx::cr4::vmxe));
static_assert(vmx::check_cr0(0x80000031, bochs_caps(), false).ok);

TEST_CASE("CR bit constants have the SDM bit numbers") {
    CHECK(vmx::cr0::mp == 1u << 1);
    CHECK(vmx::cr0::em == 1u << 2);
    CHECK(vmx::cr0::ts == 1u << 3);
    CHECK(vmx::cr0::et == 1u << 4);
    CHECK(vmx::cr0::am == 1u << 18);
    CHECK(vmx::cr4::osfxsr == 1u << 9);
    CHECK(vmx::cr4::osxmmexcpt == 1u << 10);
    CHECK(vmx::cr4::umip == 1u << 11);
    CHECK(vmx::cr4::smxe == 1u << 14);
    CHECK(vmx::cr4::fsgsbase == 1u << 16);
    CHECK(vmx::cr4::smep == 1u << 20);
    CHECK(vmx::cr4::smap == 1u << 21);
    CHECK(std::strcmp(vmx::cr0_bit_name(31), "PG") == 0);
    CHECK(std::strcmp(vmx::cr4_bit_name(13), "VMXE") == 0);
    CHECK(std::strcmp(vmx::cr4_bit_name(15), "reserved") == 0);
}

TEST_CASE("adjust_cr0 forces FIXED0 bits on and FIXED1-clear bits off") {
    const vmx::VmxCaps caps = bochs_caps();
    // A paged 64-bit guest asking only for PE/PG gets NE added.
    CHECK(vmx::adjust_cr0(vmx::cr0::pe | vmx::cr0::pg, caps, false) == 0x80000021);
    // Bits 63:32 are clear in FIXED1 and are dropped.
    CHECK(vmx::adjust_cr0((1ull << 32) | vmx::cr0::wp, caps, false) == (0x80000021 | vmx::cr0::wp));
    // Unrestricted guest: PE and PG are the guest's choice, NE is still forced.
    CHECK(vmx::adjust_cr0(0, caps, true) == vmx::cr0::ne);
    CHECK(vmx::adjust_cr0(vmx::cr0::pe, caps, true) == (vmx::cr0::pe | vmx::cr0::ne));
    // A stricter FIXED1 clears CD as well.
    vmx::VmxCaps strict = caps;
    strict.cr0_fixed1 = 0xbfffffff;
    CHECK(vmx::adjust_cr0(vmx::cr0::cd | vmx::cr0::pe, strict, false) == 0x80000021);
}

TEST_CASE("adjust_cr4 forces VMXE and drops what the CPU does not support") {
    const vmx::VmxCaps caps = bochs_caps();
    // Bochs' skylake_x FIXED1 (0x3727ff) lacks UMIP, LA57, SMXE and PKE.
    const std::uint64_t asked = vmx::cr4::pae | vmx::cr4::umip | vmx::cr4::la57 | vmx::cr4::pke |
                                vmx::cr4::osxsave;
    CHECK(vmx::adjust_cr4(asked, caps) == (vmx::cr4::pae | vmx::cr4::osxsave | vmx::cr4::vmxe));
    CHECK(vmx::adjust_cr4(0, caps) == vmx::cr4::vmxe);
}

TEST_CASE("check_cr0/check_cr4 name the offending bits") {
    const vmx::VmxCaps caps = bochs_caps();
    const vmx::CrCheck c0 = vmx::check_cr0(vmx::cr0::pe | (1ull << 40), caps, false);
    CHECK_FALSE(c0.ok);
    CHECK(c0.must_set == (vmx::cr0::ne | vmx::cr0::pg));
    CHECK(c0.must_clear == (1ull << 40));
    const vmx::CrCheck c0u = vmx::check_cr0(0, caps, true);
    CHECK_FALSE(c0u.ok);
    CHECK(c0u.must_set == vmx::cr0::ne);
    CHECK(c0u.must_clear == 0);
    // The host before VMXON: CR4 without VMXE.
    const vmx::CrCheck c4 = vmx::check_cr4(vmx::cr4::pae | vmx::cr4::pge, caps);
    CHECK_FALSE(c4.ok);
    CHECK(c4.must_set == vmx::cr4::vmxe);
    CHECK(c4.must_clear == 0);
    const vmx::CrCheck ok4 = vmx::check_cr4(vmx::cr4::pae | vmx::cr4::vmxe, caps);
    CHECK(ok4.ok);
}

TEST_CASE("adjusted values pass the check on every CPU in testdata") {
    const std::filesystem::path dir = std::filesystem::path(METRONOME_TESTDATA) / "vmx-caps";
    int files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() != ".txt") continue;
        ++files;
        vmx::VmxCaps caps;
        caps.cr0_fixed0 = msr_from_file(entry.path(), "IA32_VMX_CR0_FIXED0");
        caps.cr0_fixed1 = msr_from_file(entry.path(), "IA32_VMX_CR0_FIXED1");
        caps.cr4_fixed0 = msr_from_file(entry.path(), "IA32_VMX_CR4_FIXED0");
        caps.cr4_fixed1 = msr_from_file(entry.path(), "IA32_VMX_CR4_FIXED1");
        INFO(entry.path().filename().string());
        // A typical OVMF CR0 (PE MP ET NE WP AM PG) is already acceptable.
        CHECK(vmx::check_cr0(0x80050033, caps, false).ok);
        // Every CPU wants VMXE, and adjusting makes any request acceptable.
        CHECK(vmx::check_cr4(vmx::cr4::pae, caps).must_set == vmx::cr4::vmxe);
        for (std::uint64_t ask : std::initializer_list<std::uint64_t>{0, ~0ull, 0x80000001, 0x6000ffff}) {
            CHECK(vmx::check_cr0(vmx::adjust_cr0(ask, caps, false), caps, false).ok);
            CHECK(vmx::check_cr0(vmx::adjust_cr0(ask, caps, true), caps, true).ok);
            CHECK(vmx::check_cr4(vmx::adjust_cr4(ask, caps), caps).ok);
        }
    }
    CHECK(files >= 2);
}
