#include "vmx/guest/guest_layout.hpp"

#include <doctest/doctest.h>
#include <cstring>
#include <vector>

namespace {

std::uint64_t u64_at(const std::vector<std::uint8_t>& m, std::uint64_t at) {
    return vmx::read_guest_u64(m.data(), m.size(), at);
}

// Walks the guest's own 4-level page tables as the CPU would (present bits, 2 MiB pages).
bool translate(const std::vector<std::uint8_t>& m, std::uint64_t linear, std::uint64_t* phys) {
    std::uint64_t table = u64_at(m, 0x1000 + 8 * ((linear >> 39) & 511));
    if ((table & 1) == 0) return false;
    table = u64_at(m, (table & ~0xfffull) + 8 * ((linear >> 30) & 511));
    if ((table & 1) == 0) return false;
    const std::uint64_t pde = u64_at(m, (table & ~0xfffull) + 8 * ((linear >> 21) & 511));
    if ((pde & 1) == 0) return false;
    if (pde & 0x80) {
        *phys = (pde & ~0x1fffffull) | (linear & 0x1fffff);
        return true;
    }
    const std::uint64_t pte = u64_at(m, (pde & ~0xfffull) + 8 * ((linear >> 12) & 511));
    if ((pte & 1) == 0) return false;
    *phys = (pte & ~0xfffull) | (linear & 0xfff);
    return true;
}

vmx::GuestIdentity identity() { return vmx::GuestIdentity{3, "alpha", "spin", 42, 100, 50000000}; }

} // namespace

TEST_CASE("guest page tables identity-map exactly the guest's memory") {
    for (std::uint64_t mib : {1ull, 2ull, 3ull, 8ull}) {
        std::vector<std::uint8_t> m(mib << 20, 0xcc);
        const char* reason = nullptr;
        REQUIRE(vmx::prepare_guest_memory(m.data(), m.size(), identity(), &reason));
        for (std::uint64_t a = 0; a < m.size(); a += 0x1000) {
            std::uint64_t phys = 0;
            REQUIRE(translate(m, a + 0x123, &phys));
            CHECK(phys == a + 0x123);
        }
        std::uint64_t phys = 0;
        CHECK_FALSE(translate(m, m.size() + ((mib % 2) ? 0 : 0x200000), &phys));
        CHECK_FALSE(translate(m, 0x40000000, &phys));
    }
}

TEST_CASE("guest memory sizes outside whole MiB 1..256 are refused") {
    std::vector<std::uint8_t> m(3 << 20);
    const char* reason = nullptr;
    CHECK_FALSE(vmx::prepare_guest_memory(m.data(), (1 << 20) + 4096, identity(), &reason));
    REQUIRE(reason != nullptr);
    CHECK(std::strstr(reason, "MiB") != nullptr);
    CHECK_FALSE(vmx::prepare_guest_memory(m.data(), 512 << 10, identity(), &reason));
}

TEST_CASE("the GDT holds a 64-bit code segment, a data segment and a busy TSS") {
    std::vector<std::uint8_t> m(2 << 20);
    const char* reason = nullptr;
    REQUIRE(vmx::prepare_guest_memory(m.data(), m.size(), identity(), &reason));
    CHECK(u64_at(m, 0x5000) == 0);
    const std::uint64_t code = u64_at(m, 0x5008);
    CHECK(((code >> 53) & 1) == 1);   // L
    CHECK(((code >> 54) & 1) == 0);   // D must be 0 with L
    CHECK(((code >> 40) & 0xf) == 0xb);
    const std::uint64_t tss_low = u64_at(m, 0x5018);
    CHECK(((tss_low >> 40) & 0xf) == 0xb);  // busy 64-bit TSS
    CHECK(((tss_low >> 16) & 0xffffff) == 0x5100);
    CHECK((tss_low & 0xffff) == 0x67);
    CHECK(m[0x5100 + 0x66] == 0x68);
}

TEST_CASE("the start-info page carries the ABI fields") {
    std::vector<std::uint8_t> m(2 << 20);
    const char* reason = nullptr;
    REQUIRE(vmx::prepare_guest_memory(m.data(), m.size(), identity(), &reason));
    CHECK(std::memcmp(&m[0x6000], "MTRNINFO", 8) == 0);
    CHECK(m[0x6008] == 1);
    CHECK(m[0x600c] == 3);
    CHECK(u64_at(m, 0x6010) == (2 << 20));
    CHECK(u64_at(m, 0x6018) == 42);
    CHECK(m[0x6020] == 100);
    CHECK(m[0x6024] == 0x20);
    CHECK(u64_at(m, 0x6028) == 50000000);
    CHECK(std::strcmp(reinterpret_cast<const char*>(&m[0x6030]), "alpha") == 0);
    CHECK(std::strcmp(reinterpret_cast<const char*>(&m[0x6050]), "spin") == 0);
    CHECK(u64_at(m, 0x6100) == 0);
}

TEST_CASE("entry state follows the ABI") {
    const auto s = vmx::guest_entry_state(2 << 20, 0x10000, 7, true, false);
    CHECK(s.rip == 0x10000);
    CHECK(s.rsp == (2 << 20));
    CHECK(s.rdi == 0x6000);
    CHECK(s.rsi == 7);
    CHECK((s.cr0 & 0x80000001ull) == 0x80000001ull);
    CHECK(s.cr3 == 0x1000);
    CHECK((s.cr4 & (1u << 18)) != 0);
    CHECK((s.efer & 0x500) == 0x500);
    CHECK((s.efer & (1u << 11)) == 0);
    const auto t = vmx::guest_entry_state(2 << 20, 0x10000, 0, false, true);
    CHECK((t.cr4 & (1u << 18)) == 0);
    CHECK((t.efer & (1u << 11)) != 0);
}

TEST_CASE("flat images load at 0x10000 and must leave the stack reserve free") {
    std::vector<std::uint8_t> m(1 << 20);
    const std::uint8_t image[] = {0xf4, 0xeb, 0xfd};
    const char* reason = nullptr;
    REQUIRE(vmx::load_flat_image(m.data(), m.size(), image, sizeof image, &reason));
    CHECK(m[0x10000] == 0xf4);
    CHECK(m[0x10002] == 0xfd);
    std::vector<std::uint8_t> big((1 << 20) - 0x10000 - 0x10000 + 1);
    CHECK_FALSE(vmx::load_flat_image(m.data(), m.size(), big.data(), big.size(), &reason));
    CHECK(vmx::read_guest_u64(m.data(), m.size(), m.size() - 4) == 0);
}
