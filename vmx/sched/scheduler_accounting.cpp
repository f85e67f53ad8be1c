#include "vmx/sched/scheduler_accounting.hpp"

namespace vmx {

const char* exit_cause_name(ExitCause cause) {
    switch (cause) {
    case ExitCause::timer:
        return "timer";
    case ExitCause::halted:
        return "halted";
    case ExitCause::halted_native_at_preemption:
        return "halted_native_at_preemption";
    case ExitCause::yielded:
        return "yielded";
    case ExitCause::handled:
        return "handled";
    case ExitCause::dead:
        return "dead";
    }
    return "unknown";
}

const char* activity_name(Activity activity) {
    switch (activity) {
    case Activity::active:
        return "running";
    case Activity::halted_trapped:
    case Activity::halted_native:
        return "halted";
    case Activity::dead:
        return "exited";
    }
    return "unknown";
}

std::uint64_t ratio_ppm(std::uint64_t part, std::uint64_t whole) {
    if (whole == 0) return 0;
    // 64-bit only: scale both down until part * 10^6 cannot overflow (2^44 * 10^6 < 2^64). A run
    // of an hour at 1 GHz is ~3.6e12 < 2^42 ticks, so in practice nothing is scaled.
    constexpr std::uint64_t kLimit = std::uint64_t{1} << 44;
    while (part >= kLimit || whole >= kLimit) {
        part >>= 1;
        whole >>= 1;
    }
    if (whole == 0) return 0;
    return part * 1000000u / whole;
}

} // namespace vmx
