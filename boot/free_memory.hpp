// Free memory as the firmware's memory map sees it (EfiConventionalMemory): total pages and the
// largest contiguous range. The configuration is checked against it before anything else
// (vmx/guest/memory_budget.hpp); the bench reports it as "how many guests fit".
#pragma once
#include <cstdint>

namespace boot {

struct FreeMemory {
    std::uint64_t pages = 0;
    std::uint64_t largest = 0;
};

FreeMemory free_memory();

} // namespace boot
