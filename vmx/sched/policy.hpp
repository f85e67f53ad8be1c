// The scheduling policies and what happens to a dead guest's share (README: "Where it comes from" and "Configuration").
// Shared by the configuration and the scheduler.
#pragma once
#include <cstdint>

namespace vmx {

enum class Policy : std::uint8_t { fixed, shared, capped };
enum class OnGuestExit : std::uint8_t { reserve, reclaim };

const char* policy_name(Policy policy);
const char* on_guest_exit_name(OnGuestExit mode);

} // namespace vmx
