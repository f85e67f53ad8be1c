// read_guest_linear (vmx/guest/guest_paging.hpp): the bytes at a guest-linear address, one walk
// per page, as far as they can be read; what the xAPIC and string-I/O exits fetch at RIP.
#include "vmx/guest/guest_paging.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace {

constexpr std::uint64_t kPage = vmx::guest_page_size;

void put_entry(std::vector<std::uint8_t>& m, std::uint64_t at, std::uint64_t value) {
    std::memcpy(&m[at], &value, sizeof value);
}

// 64 KiB of guest memory; tables at 0x1000 (PML4), 0x2000 (PDPT), 0x3000 (PD), 0x4000 (PT). The
// linear pages 0x8000 and 0x9000 map to the physical pages 0xA000 and 0x6000 (not contiguous);
// linear 0xA000 is not present.
struct Mapped {
    std::vector<std::uint8_t> memory = std::vector<std::uint8_t>(16 * kPage);
    Mapped() {
        constexpr std::uint64_t present_rw = 0x3;
        put_entry(memory, 0x1000, 0x2000 | present_rw);
        put_entry(memory, 0x2000, 0x3000 | present_rw);
        put_entry(memory, 0x3000, 0x4000 | present_rw);
        put_entry(memory, 0x4000 + 8 * 8, 0xA000 | present_rw);
        put_entry(memory, 0x4000 + 9 * 8, 0x6000 | present_rw);
    }
};

} // namespace

TEST_CASE("read_guest_linear: across a page boundary each page is translated on its own") {
    Mapped g;
    g.memory[0xAFFE] = 0x11;
    g.memory[0xAFFF] = 0x22;
    g.memory[0x6000] = 0x33;
    std::uint8_t out[4] = {};
    vmx::WalkAccess fetch;
    fetch.fetch = true;
    CHECK(vmx::read_guest_linear(g.memory.data(), g.memory.size(), true, 0x1000, 0x8FFE, fetch, out, 3) == 3);
    CHECK(out[0] == 0x11);
    CHECK(out[1] == 0x22);
    CHECK(out[2] == 0x33);
    // The page after 0x9000 is not present: the read stops there.
    CHECK(vmx::read_guest_linear(g.memory.data(), g.memory.size(), true, 0x1000, 0x9FFE, fetch, out, 4) == 2);
}

TEST_CASE("read_guest_linear: without paging the address is physical, and memory's end stops it") {
    std::vector<std::uint8_t> memory(kPage, 0);
    memory[kPage - 1] = 0x90;
    std::uint8_t out[4] = {};
    CHECK(vmx::read_guest_linear(memory.data(), memory.size(), false, 0, kPage - 1, {}, out, 4) == 1);
    CHECK(out[0] == 0x90);
    CHECK(vmx::read_guest_linear(memory.data(), memory.size(), false, 0, kPage, {}, out, 4) == 0);
}
