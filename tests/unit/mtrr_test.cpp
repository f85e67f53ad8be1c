// Memory types from MTRRs (vmx/caps/mtrr.hpp), as the idle code asks for its MONITOR line.
#include "vmx/caps/mtrr.hpp"

#include <doctest/doctest.h>

namespace mt = vmx::memory_type;

namespace {

// A typical firmware setup: MTRRs and fixed ranges on, default UC; RAM [0, 2 GiB) WB by one
// variable range, [1.5 GiB, 2 GiB) carved out UC by another; fixed: 0-512K WB, A0000-BFFFF UC,
// C0000-FFFFF WP.
vmx::MtrrState typical() {
    vmx::MtrrState m;
    m.cap = 0x100 | 8;
    m.def_type = (1u << 11) | (1u << 10) | mt::uncacheable;
    m.fixed[0] = 0x0606060606060606ull;
    m.fixed[1] = 0x0606060606060606ull;
    m.fixed[2] = 0;
    for (int i = 3; i < 11; ++i) m.fixed[i] = 0x0505050505050505ull;
    m.physical_address_bits = 39;
    m.base[0] = 0x0 | mt::write_back;
    m.mask[0] = (((1ull << 39) - 1) & ~((2ull << 30) - 1)) | (1u << 11);
    m.base[1] = (3ull << 29) | mt::uncacheable;
    m.mask[1] = (((1ull << 39) - 1) & ~((512ull << 20) - 1)) | (1u << 11);
    return m;
}

} // namespace

TEST_CASE("mtrr: disabled MTRRs make every address uncacheable") {
    vmx::MtrrState m = typical();
    m.def_type &= ~(1ull << 11);
    CHECK(vmx::mtrr_memory_type(m, 0x100000) == mt::uncacheable);
}

TEST_CASE("mtrr: fixed ranges below 1 MiB, by their 64K/16K/4K granules") {
    const vmx::MtrrState m = typical();
    CHECK(vmx::mtrr_memory_type(m, 0x10000) == mt::write_back);
    CHECK(vmx::mtrr_memory_type(m, 0x9f000) == mt::write_back);
    CHECK(vmx::mtrr_memory_type(m, 0xa0000) == mt::uncacheable);
    CHECK(vmx::mtrr_memory_type(m, 0xf8000) == mt::write_protected);
    vmx::MtrrState off = m;
    off.def_type &= ~(1ull << 10); // fixed ranges off: the variable ranges decide
    CHECK(vmx::mtrr_memory_type(off, 0xa0000) == mt::write_back);
}

TEST_CASE("mtrr: variable ranges, UC winning an overlap, default outside every range") {
    const vmx::MtrrState m = typical();
    CHECK(vmx::mtrr_memory_type(m, 0x7e00000) == mt::write_back);
    CHECK(vmx::mtrr_memory_type(m, 0x70000000) == mt::uncacheable); // 1.75 GiB: the carve-out
    CHECK(vmx::mtrr_memory_type(m, 0x90000000) == mt::uncacheable); // beyond 2 GiB: default
    vmx::MtrrState wb_default = m;
    wb_default.def_type = (wb_default.def_type & ~0xffull) | mt::write_back;
    CHECK(vmx::mtrr_memory_type(wb_default, 0x90000000) == mt::write_back);
}

TEST_CASE("mtrr: the MONITOR line is the preferred one when write-back, else another") {
    const vmx::MtrrState m = typical();
    CHECK(vmx::write_back_monitor_line(m, 0x7e00040) == 0x7e00040);
    CHECK(vmx::write_back_monitor_line(m, 0x7e00047) == 0x7e00040); // a line starts 64-aligned
    CHECK(vmx::write_back_monitor_line(m, 0x90000000) == 0x1000);   // WB range at 0: its 2nd page
    vmx::MtrrState fixed_only = m;
    fixed_only.mask[0] = 0; // no WB variable range: a WB fixed range at or above 64 KiB
    CHECK(vmx::write_back_monitor_line(fixed_only, 0x90000000) == 0x10000);
    vmx::MtrrState none = m;
    none.def_type &= ~(1ull << 11);
    CHECK(vmx::write_back_monitor_line(none, 0x1000) == vmx::kNoWriteBackLine);
}
