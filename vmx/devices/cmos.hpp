// The CMOS RAM and real-time clock of a PC (Motorola MC146818A): index port 0x70, data port
// 0x71. Linux reads the wall clock from it once at boot; with no clock it would retry for a second
// while "update in progress" reads as set (all-ones). The clock here starts at a fixed date,
// 2026-01-01 00:00:00 UTC, and advances with the guest's own seconds, so runs are repeatable:
// BCD, 24-hour, never updating. Writes to the clock and the RAM are ignored. Pure.
#pragma once
#include <cstdint>

namespace vmx {

class Cmos {
  public:
    static constexpr std::uint16_t index_port = 0x70, data_port = 0x71;
    static bool owns(std::uint16_t port) { return port == index_port || port == data_port; }

    // `seconds`: how long the guest has run by its own clock.
    std::uint8_t read(std::uint16_t port, std::uint64_t seconds) const;
    void write(std::uint16_t port, std::uint8_t value);

  private:
    std::uint8_t index_ = 0;
};

} // namespace vmx
