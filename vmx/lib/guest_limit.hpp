// How many guests one Metronome runs at most: the one definition every per-guest table is sized
// from (the configuration, the scheduler, the Vcpus, boot/'s image and allocation tables, the
// console queue, the report buffer). A configuration with more is refused by the parser, naming
// the line of the first guest too many (vmx/config/config_parse.cpp).
#pragma once
#include <cstddef>

namespace vmx {

inline constexpr std::size_t max_guests = 256;

} // namespace vmx
