// What the exit handlers share (vmx/exits/*.cpp): completing an instruction, raising an exception
// in the guest, stopping the guest for an access outside its memory, the general registers by
// number, and each family's handler for the dispatch in exit_handler.cpp. Internal to vmx/exits.
#pragma once
#include <cstdint>

#include "vmx/arch/exit_reasons.hpp"
#include "vmx/exits/exit_handler.hpp"

namespace vmx {

// REP INS/OUTS: elements handled per exit; the rest by re-executing the instruction.
inline constexpr std::uint64_t string_io_elements_per_exit = 16;

// Moves the guest past the instruction that exited, as the processor would have completed it
// (shadows end, a single-step trap is raised when RFLAGS.TF = 1).
void advance_rip();
// Sets up a hardware exception for injection at the next entry, with its error code if it has one.
void inject_exception(Vcpu& guest, std::uint8_t vector, std::uint32_t error_code = 0);
// A page fault at `linear`: CR2 and the error code as the processor sets them.
void inject_page_fault(Vcpu& guest, std::uint64_t linear, std::uint32_t error_code);

enum class GuestAccess : std::uint8_t { read, write, fetch };
// The answer for an access to a guest-physical address outside the guest's memory, which is what
// the processor's EPT would report: the guest stops, the report names the GPA and the access.
ExitOutcome stop_for_ept_violation(Vcpu& guest, std::uint64_t gpa, GuestAccess access,
                                   std::uint64_t qualification);

// A general register by the SDM's number (0 RAX ... 15 R15; 4 is RSP, in the VMCS).
std::uint64_t read_gpr(Vcpu& guest, unsigned number);
void write_gpr(Vcpu& guest, unsigned number, std::uint64_t value);

// The handlers, one file per family.
ExitOutcome handle_cpuid(Vcpu& guest);                         // cpuid.cpp
ExitOutcome handle_vmcall(Vcpu& guest);                        // vmcall.cpp
ExitOutcome handle_io(Vcpu& guest);                            // io.cpp
ExitOutcome handle_string_io(Vcpu& guest, const IoExit& io);   // string_io.cpp
ExitOutcome handle_msr(Vcpu& guest, std::uint16_t reason);     // msr.cpp: RDMSR, WRMSR, RDPMC
ExitOutcome handle_cr_access(Vcpu& guest);                     // cr_access.cpp
ExitOutcome handle_xsetbv(Vcpu& guest);                        // xsetbv.cpp
ExitOutcome handle_hlt(Vcpu& guest);                           // events.cpp
ExitOutcome handle_ept_violation(Vcpu& guest);                 // events.cpp
ExitOutcome handle_exception_or_nmi(Vcpu& guest);              // events.cpp
ExitOutcome handle_external_interrupt(Vcpu& guest);            // events.cpp
ExitOutcome handle_entry_failure(Vcpu& guest, const ExitReason& reason); // events.cpp
ExitOutcome stop_unhandled(Vcpu& guest, std::uint16_t reason); // events.cpp

// OUT of `size` bytes of `value` to `port`: the console port prints, every other port drops it.
void io_out_value(Vcpu& guest, std::uint16_t port, std::uint64_t value, unsigned size);
// What an IN from a port nobody owns reads: all ones.
inline constexpr std::uint64_t floating_bus = ~0ull;

} // namespace vmx
