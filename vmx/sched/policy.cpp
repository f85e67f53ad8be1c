#include "vmx/sched/policy.hpp"

namespace vmx {

const char* policy_name(Policy policy) {
    switch (policy) {
    case Policy::fixed: return "fixed";
    case Policy::shared: return "shared";
    case Policy::capped: return "capped";
    }
    return "unknown";
}

const char* on_guest_exit_name(OnGuestExit mode) {
    switch (mode) {
    case OnGuestExit::reserve: return "reserve";
    case OnGuestExit::reclaim: return "reclaim";
    }
    return "unknown";
}

} // namespace vmx
