// What the pure core needs from the machine it runs on, as plain functions: the seam between the
// decisions (vmx/run, vmx/exits) and the privileged shell. No virtual call on the hot path:
//  - in metronome.efi (METRONOME_TARGET) they are defined by vmx/hw/platform.cpp, except the
//    TSC read, switch_to and background, which are inline (here and vmx/hw/guest_switch.hpp):
//    the slice switch calls them every slot;
//  - in the host's unit tests they are defined by tests/unit/fake_platform.cpp, which simulates
//    the guests (and the host tools never call them).
#pragma once
#include <cstdint>

#if defined(METRONOME_TARGET)
#include "vmx/hw/cpu.hpp"
// switch_to and background are inline on the target (vmx/hw/guest_switch.hpp, included below):
// the slice switch calls them on every slot.
#define METRONOME_PLATFORM_INLINE [[gnu::always_inline]] inline
#else
#define METRONOME_PLATFORM_INLINE
#endif

namespace vmx {

struct Vcpu;

// What a VM entry came back with: a VM exit the fast path handed to the run loop, or the
// instruction's own failure, and whose: the guest entered, or the one a slice switch below the
// run loop made current (vmx/run/run_loop.hpp, switch_below_loop). Sixteen bytes, so that it
// comes back in two registers.
struct EntryResult {
    std::uint32_t vm_instruction_error = 0; // VMfailValid: why VMLAUNCH/VMRESUME failed
    bool exited = false;                    // a VM exit happened (the normal case)
    bool fail_invalid = false;              // VMfailInvalid: no current VMCS
    Vcpu* guest = nullptr;                  // the guest that exited, or whose entry failed
};

namespace platform {

#if defined(METRONOME_TARGET)
// Without the LFENCE of hw::rdtsc: the accounting needs the order of the reads, not a barrier
// against earlier loads, and the exit path pays for every instruction.
inline std::uint64_t rdtsc() {
    std::uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    return (static_cast<std::uint64_t>(hi) << 32) | lo;
}
#else
std::uint64_t rdtsc();
#endif

// Makes `next` the current guest: VMPTRLD of its VMCS and the state the VMCS does not switch
// (FPU/SSE/AVX, XCR0, DR0-3/DR6, and those of the syscall MSRs and TSC_AUX whose values differ
// from the CPU's). `previous` may be null.
METRONOME_PLATFORM_INLINE bool switch_to(Vcpu* previous, Vcpu& next);
// VMLAUNCH (first time) or VMRESUME the current guest; exits the fast path absorbs are handled
// inside (vmx/exits/exit_handler.cpp); returns at the first it hands back.
EntryResult enter(Vcpu& guest);
// Root-mode idle until the TSC reaches `tsc` (nothing may run), or until input arrives for the
// console_input guest (console_input() has a byte): then earlier.
void idle_until(std::uint64_t tsc);
// Bounded work that must not wait (sending queued console output), done between slices; `now`
// is a TSC read of this switch (it is skipped until the console can take more).
METRONOME_PLATFORM_INLINE void background(std::uint64_t now);
// A byte typed on Metronome's own console for the console_input guest, or -1 (none now, or no
// such guest). Never waits.
int console_input();
// A physical interrupt was acknowledged on exit: end of interrupt to its controller.
void end_of_interrupt();
// The current guest wrote one of the MSRs the hypervisor switches (vmx/run/vcpu.hpp, SyscallMsrs),
// with a value the processor accepts: make it the processor's now. False when this processor does
// not have that MSR (TSC_AUX without RDTSCP).
bool write_switched_msr(std::uint32_t msr, std::uint64_t value);
// The current guest changed its XCR0 (XSETBV): make it the processor's now.
void load_xcr0(std::uint64_t value);
// Console text of a guest: one complete line without its newline, or (complete = false) the
// start of a line that has not ended yet, handed on early because the guest is interactive (a
// shell's prompt, the echo of what is typed; the rest follows as more pieces or a line). False
// when the output side dropped it (that guest's share of the queue is full).
bool console_line(const Vcpu& guest, const char* line, bool complete = true);

} // namespace platform
} // namespace vmx

#if defined(METRONOME_TARGET)
#include "vmx/hw/guest_switch.hpp" // NOLINT: the definitions of switch_to and background
#endif
