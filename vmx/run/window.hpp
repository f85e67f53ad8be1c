// The measurement window: a stretch of the run, of a configured length, that opens once every
// guest has reached its workload, so that the shares it reports leave out how long each guest
// took to boot (a Linux kernel takes ~10^9 instructions to reach /init). A Linux guest says it has
// arrived with the `ready` hypercall (guest/ABI.md section 7); a guest of the ABI's own is ready
// from its first instruction; a guest that stopped counts as arrived. The books at the opening are
// kept, and the window's are the final ones minus them: exact, like the run's (every tick of
// [start, end) is charged to one guest, idle or switching).
#pragma once
#include <cstdint>

#include "vmx/arch/exit_reasons.hpp"
#include "vmx/sched/scheduler_accounting.hpp"

namespace vmx {

// A guest's exits by basic reason at the opening, so the report gives the window's own.
struct WindowExits {
    std::uint64_t exits[exit_reason::count] = {};
    std::uint64_t other = 0;
};

struct MeasurementWindow {
    std::uint64_t measure_ticks = 0; // the window's length; 0: there is none (the run is measured)
    bool opened = false;
    std::uint64_t start = 0;         // Scheduler::charged_until() at the opening, and at the end
    std::uint64_t end = 0;
    std::uint64_t closes_at = ~0ull; // the run ends here once it opened
    RunStats run_at_open{};
    GuestStats* at_open = nullptr;   // one per guest (the caller's storage)
    WindowExits* exits_at_open = nullptr; // one per guest (the caller's storage), or null

    std::uint64_t length() const { return end - start; }
};

} // namespace vmx
