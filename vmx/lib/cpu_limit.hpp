// How many processors one Metronome runs guests on at most: the one definition the per-CPU
// tables are sized from (the configuration's `cpu` range, the session's per-CPU runs, boot/'s
// processor list, the report). A processor the firmware numbers beyond it is left to the firmware.
#pragma once
#include <cstddef>

namespace vmx {

inline constexpr std::size_t max_cpus = 64;

} // namespace vmx
