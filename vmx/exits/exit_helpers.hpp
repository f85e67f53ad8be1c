// What the exit handlers share (vmx/exits/exit_handler.cpp and the handlers split from it): completing
// an instruction, raising an exception in the guest, stopping the guest for an access outside its
// memory, the port I/O answers. Internal to the exit handling; not for the run loop.
#pragma once
#include <cstdint>

#include "vmx/exits/exit_handler.hpp"

namespace vmx {

// Moves the guest past the instruction that exited, as the processor would have completed it
// (shadows end, a single-step trap is raised when RFLAGS.TF = 1).
void advance_rip(VmcsAccess& vmcs);
// Sets up a hardware exception for injection at the next entry, with its error code if it has one.
void inject_exception(GuestContext& guest, VmcsAccess& vmcs, std::uint8_t vector,
                      std::uint32_t error_code = 0);
// A page fault at `linear`: CR2 and the error code as the processor sets them.
void inject_page_fault(GuestContext& guest, VmcsAccess& vmcs, std::uint64_t linear,
                       std::uint32_t error_code);

enum class GuestAccess : std::uint8_t { read, write, fetch };
// The answer for an access to a guest-physical address outside the guest's memory, which is what
// the processor's EPT would report: the guest stops, the report names the GPA and the access.
ExitOutcome stop_for_ept_violation(GuestContext& guest, std::uint64_t gpa, GuestAccess access,
                                   std::uint64_t qualification);

// OUT of `size` bytes of `value` to `port`: the console port prints, every other port drops it.
void io_out_value(GuestContext& guest, ExitServices& services, std::uint16_t port,
                  std::uint64_t value, unsigned size);
// What an IN of `size` bytes from a port nobody owns reads: all ones.
inline constexpr std::uint64_t floating_bus = ~0ull;

// INS/OUTS, with or without REP (vmx/exits/string_io.cpp).
ExitOutcome handle_string_io(GuestContext& guest, VmcsAccess& vmcs, ExitServices& services,
                             const IoExit& io);

} // namespace vmx
