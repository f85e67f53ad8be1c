#include "vmx/devices/cmos.hpp"

namespace vmx {
namespace {

std::uint8_t bcd(std::uint64_t v) { return static_cast<std::uint8_t>((v / 10 % 10) << 4 | (v % 10)); }

// Days in each month of 2026 (not a leap year).
constexpr std::uint8_t month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

} // namespace

std::uint8_t Cmos::read(std::uint16_t port, std::uint64_t seconds) const {
    if (port == index_port) return 0xff; // the index register is write-only
    std::uint64_t day = seconds / 86400 % 365; // stays inside 2026
    unsigned month = 0;
    while (day >= month_days[month]) day -= month_days[month++];
    const std::uint64_t s = seconds % 86400;
    switch (index_) {
    case 0x00: return bcd(s % 60);
    case 0x02: return bcd(s / 60 % 60);
    case 0x04: return bcd(s / 3600);
    case 0x06: return bcd((seconds / 86400 + 4) % 7 + 1); // 2026-01-01 is a Thursday (day 5)
    case 0x07: return bcd(day + 1);
    case 0x08: return bcd(month + 1);
    case 0x09: return bcd(26);
    case 0x0a: return 0x26; // 32.768 kHz time base, 1024 Hz rate, no update in progress
    case 0x0b: return 0x02; // 24-hour, BCD, no interrupts
    case 0x0c: return 0x00;
    case 0x0d: return 0x80; // the battery is good
    case 0x32: return bcd(20); // century
    default: return 0x00;
    }
}

void Cmos::write(std::uint16_t port, std::uint8_t value) {
    if (port == index_port) index_ = value & 0x7fu; // bit 7 masks NMI: there are none
}

} // namespace vmx
