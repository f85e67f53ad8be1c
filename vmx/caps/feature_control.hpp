// IA32_FEATURE_CONTROL before VMXON (SDM "Enabling and Entering VMX Operation"): VMXON outside
// SMX needs bit 2 set and the register locked (bit 0). Firmware may have locked it either way.
#pragma once
#include <cstdint>

namespace vmx {

enum class FeatureControlAction : std::uint8_t {
    ready,        // locked with VMXON outside SMX enabled: nothing to do
    lock_enable,  // unlocked: write `value` (sets VMXON-outside-SMX and the lock)
    locked_off,   // locked with VMX disabled: only a firmware setting can change that
};

struct FeatureControlDecision {
    FeatureControlAction action;
    std::uint64_t value;  // what to write for lock_enable
    const char* words;    // the state in words, for the log and errors
};

constexpr FeatureControlDecision decide_feature_control(std::uint64_t current) {
    constexpr std::uint64_t lock = 1u << 0, outside_smx = 1u << 2;
    if ((current & lock) == 0) {
        return {FeatureControlAction::lock_enable, current | lock | outside_smx,
                "unlocked: Metronome enables VMXON outside SMX and locks it"};
    }
    if ((current & outside_smx) != 0) {
        return {FeatureControlAction::ready, current, "locked with VMXON outside SMX enabled"};
    }
    return {FeatureControlAction::locked_off, current,
            "firmware locked VMX off (IA32_FEATURE_CONTROL bit 0 set, bit 2 clear): enable "
            "virtualization (VT-x) in the firmware setup"};
}

static_assert(decide_feature_control(0).action == FeatureControlAction::lock_enable);
static_assert(decide_feature_control(0).value == 5);
static_assert(decide_feature_control(5).action == FeatureControlAction::ready);
static_assert(decide_feature_control(1).action == FeatureControlAction::locked_off);
static_assert(decide_feature_control(3).action == FeatureControlAction::locked_off);

} // namespace vmx
