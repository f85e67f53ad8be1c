#include "vmx/hw/debug_break.hpp"

namespace vmx::hw {
namespace {

// Set once by arm_debug_breaks before any guest exists; read before each first VM entry. A
// global because the breakpoints serve a person at a debugger, not the run: nothing in the
// schedule or the report depends on them.
struct Armed {
    bool before_launch = false;
    bool any_guest = true; // no debug_guest: the first guest entered
    char guest[max_name_length + 1] = {};
};
Armed g_armed;

bool same_name(const char* a, const char* b) {
    while (*a != '\0' && *a == *b) {
        ++a;
        ++b;
    }
    return *a == *b;
}

} // namespace

void arm_debug_breaks(const Config& config) {
    g_armed = Armed{};
    if (config.debug_break == DebugBreak::none) return;
    g_armed.before_launch = config.debug_break == DebugBreak::vmentry;
    g_armed.any_guest = config.debug_guest[0] == '\0';
    for (std::size_t i = 0; i <= max_name_length; ++i)
        g_armed.guest[i] = config.debug_guest[i];
    g_armed.guest[max_name_length] = '\0';
    metronome_debug_break(static_cast<std::uint64_t>(DebugStop::start), 0, 0, 0);
}

void debug_break_before_launch(const Vcpu& guest) {
    if (!g_armed.before_launch) return;
    if (!g_armed.any_guest && !same_name(guest.name, g_armed.guest)) return;
    g_armed.before_launch = false; // one stop: the first entry of that guest
    metronome_debug_break(static_cast<std::uint64_t>(DebugStop::before_vm_entry), guest.vmcs_physical,
                          reinterpret_cast<std::uint64_t>(guest.memory), guest.guest_number);
}

} // namespace vmx::hw
