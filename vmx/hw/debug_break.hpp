// Breakpoints compiled into metronome.efi for the Bochs debugger (`tools/metronome debug`),
// armed by the configuration keys `debug_break` and `debug_guest` (vmx/config/config.hpp). Target only.
//
// With debug_break = start or vmentry, metronome.efi stops once right after reading its
// configuration (stop 1: the tool loads the symbols there, relative to RIP); with vmentry it
// stops again just before the first VMLAUNCH of the guest named by debug_guest, or of the first
// guest entered when debug_guest is not set (stop 2). At a stop the registers say where:
//   RDI  1 = start, 2 = before VM entry
//   RSI  physical address of the guest's VMCS (stop 2)
//   RDX  host-physical address of the guest's memory, i.e. of its guest-physical 0 (stop 2)
//   RCX  the guest's index in the configuration (stop 2)
// With debug_break = none (the default) nothing here executes `xchg bx, bx`.
#pragma once
#include <cstdint>

#include "vmx/config/config.hpp"
#include "vmx/run/vcpu.hpp"

extern "C" void metronome_debug_break(std::uint64_t stop, std::uint64_t vmcs_physical,
                                      std::uint64_t guest_memory_physical,
                                      std::uint64_t guest_index);

namespace vmx::hw {

enum class DebugStop : std::uint64_t { start = 1, before_vm_entry = 2 };

// Remembers what the configuration asks for and, unless it is `none`, stops (stop 1).
void arm_debug_breaks(const Config& config);

// Called just before a guest's first VM entry (VMLAUNCH): stops when this is the entry asked for.
void debug_break_before_launch(const Vcpu& guest);

} // namespace vmx::hw
