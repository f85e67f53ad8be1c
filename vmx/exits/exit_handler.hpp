// Handling of one VM exit: decode it, give the guest the architecturally right answer, and tell
// the scheduler what happened. Pure: hardware is reached only through VmcsAccess and
// ExitServices, so every path is unit-tested with fakes.
#pragma once
#include <cstdint>

#include "vmx/run/guest_state.hpp"
#include "vmx/vmcs/vmcs_access.hpp"

namespace vmx {

// The few things exit handling needs from the machine.
class ExitServices {
  public:
    // CPUID as the real processor answers it (the handler then filters it for the guest).
    virtual void cpuid(std::uint32_t leaf, std::uint32_t subleaf, std::uint32_t out[4]) = 0;
    // One complete console line of a guest, without the newline. False when it was dropped: the
    // guest's share of the console queue is full (each guest has its own, so one guest's flood
    // never silences another).
    virtual bool console_line(const GuestContext& guest, const char* line) = 0;
    // A physical interrupt was acknowledged on exit: signal end of interrupt to its controller.
    virtual void end_of_interrupt(std::uint8_t vector) = 0;
    // XCR0 bits the processor supports (CPUID.(EAX=0DH,ECX=0):EDX:EAX), 0 without XSAVE.
    virtual std::uint64_t supported_xcr0() = 0;

  protected:
    ExitServices() = default;
    ~ExitServices() = default;
    ExitServices(const ExitServices&) = default;
    ExitServices& operator=(const ExitServices&) = default;
};

enum class ExitOutcome : std::uint8_t {
    resume,            // handled; the guest continues in its slice
    preempted,         // the VMX-preemption timer expired
    halted,            // trapped HLT: the guest waits for its next event
    yielded,           // VMCALL yield
    interrupt_window,  // the guest can take an interrupt now
    stopped,           // the guest never runs again; GuestContext::stop says why
};

// Hypercall numbers (guest/ABI.md, "Hypercalls").
namespace hypercall {
inline constexpr std::uint64_t yield = 0;
inline constexpr std::uint64_t powerdown = 1;
inline constexpr std::uint64_t console_write = 2;
inline constexpr std::uint64_t result_ok = 0;
inline constexpr std::uint64_t result_unknown = ~0ull;
inline constexpr std::uint64_t result_bad_argument = ~0ull - 1;
inline constexpr std::uint64_t console_write_max = 4096;
// A longer write continues over several exits (guest/ABI.md section 7): ~60 instructions a byte,
// so one exit stays under ~8,000 instructions.
inline constexpr std::uint64_t console_write_bytes_per_exit = 128;
} // namespace hypercall

inline constexpr std::uint16_t console_port = 0xe9;
// REP INS/OUTS: elements handled per exit; the rest by re-executing the instruction.
inline constexpr std::uint64_t string_io_elements_per_exit = 16;
inline constexpr std::uint32_t hypervisor_cpuid_base = 0x40000000u;
inline constexpr std::uint32_t hypervisor_cpuid_max = 0x40000003u; // capacity leaves: vmx/sched/capacity.hpp

ExitOutcome handle_exit(GuestContext& guest, VmcsAccess& vmcs, ExitServices& services);

// Appends console bytes; completed lines (or full buffers) go to services.console_line.
void console_put(GuestContext& guest, ExitServices& services, char c);

// Stops the guest with a reason and a message (helper shared by the exit paths and the runner).
void stop_guest(GuestContext& guest, StopReason reason, std::uint16_t exit_reason,
                const char* detail);

} // namespace vmx
