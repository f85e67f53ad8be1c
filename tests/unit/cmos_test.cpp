// The CMOS clock (vmx/devices/cmos.hpp): never "updating", BCD, from 2026-01-01 by the guest's seconds.
#include "vmx/devices/cmos.hpp"

#include <doctest/doctest.h>

namespace {
std::uint8_t reg(vmx::Cmos& c, std::uint8_t index, std::uint64_t seconds) {
    c.write(0x70, index);
    return c.read(0x71, seconds);
}
} // namespace

TEST_CASE("cmos: the clock reads 2026-01-01 plus the guest's seconds, in BCD, never updating") {
    vmx::Cmos c;
    CHECK((reg(c, 0x0a, 0) & 0x80) == 0); // UIP clear
    CHECK(reg(c, 0x0b, 0) == 0x02);
    CHECK(reg(c, 0x09, 0) == 0x26);
    CHECK(reg(c, 0x32, 0) == 0x20);
    CHECK(reg(c, 0x08, 0) == 0x01);
    CHECK(reg(c, 0x07, 0) == 0x01);
    const std::uint64_t t = 31 * 86400 + 13 * 3600 + 45 * 60 + 59; // 2026-02-01 13:45:59
    CHECK(reg(c, 0x00, t) == 0x59);
    CHECK(reg(c, 0x02, t) == 0x45);
    CHECK(reg(c, 0x04, t) == 0x13);
    CHECK(reg(c, 0x07, t) == 0x01);
    CHECK(reg(c, 0x08, t) == 0x02);
    CHECK(reg(c, 0x06, 0) == 0x05); // Thursday
    CHECK(reg(c, 0x0d, 0) == 0x80);
    c.write(0x70, 0x80 | 0x09); // the NMI-mask bit is ignored
    CHECK(c.read(0x71, 0) == 0x26);
}
