// One guest's virtual CPU: everything the hypervisor keeps about a guest's execution besides its
// VMCS, in one place. Its registers (where vm_entry.S saves and loads them), its memory, the state
// the VMCS does not switch, the fast path's bounds, its CPUID answers, why it stopped, what it
// printed, and its counters. The scheduler keeps its own books per guest apart from this (vmx/
// sched): what a guest is entitled to is not part of its execution state.
#pragma once
#include <cstddef>
#include <cstdint>

#include "vmx/arch/exit_reasons.hpp"
#include "vmx/arch/msr.hpp"
#include "vmx/devices/console.hpp"
#include "vmx/exits/cpuid_table.hpp"
#include "vmx/run/guest_registers.hpp"

namespace vmx {

enum class StopReason : std::uint8_t {
    none,
    powerdown,           // VMCALL powerdown
    triple_fault,
    ept_violation,       // access outside its memory
    entry_failure,       // VM entry refused the guest state
    unhandled_exit,      // an exit Metronome has no answer for
    hypervisor_error,    // a VMX instruction failed while serving this guest
    halted_forever,      // trapped HLT with RFLAGS.IF = 0: nothing can ever wake it
    reboot,              // a Linux guest asked its PC to reset (nothing is reset)
};

const char* stop_reason_key(StopReason reason);

struct GuestStop {
    StopReason reason = StopReason::none;
    std::uint16_t exit_reason = 0;
    std::uint64_t code = 0;          // powerdown code, VM-instruction error, qualification
    std::uint64_t address = 0;       // EPT violation: guest-physical address
    std::uint64_t rip = 0;
    char detail[160] = {};           // one line in words
};

// Root-mode TSC ticks spent on one kind of exit: from the run loop's first TSC read after the
// VM exit to its last one before the next VM entry (tools/metronome bench reads them; in Bochs
// one tick is one instruction). Integers only: the mean is total / count.
struct RootTicks {
    std::uint64_t count = 0;
    std::uint64_t total = 0;
    std::uint64_t min = ~0ull; // ~0 until the first
    std::uint64_t max = 0;
    void add(std::uint64_t ticks) {
        ++count;
        total += ticks;
        if (ticks < min) min = ticks;
        if (ticks > max) max = ticks;
    }
    std::uint64_t min_or_zero() const { return count == 0 ? 0 : min; }
};

struct GuestCounters {
    std::uint64_t exits[exit_reason::count] = {};
    RootTicks root_ticks[exit_reason::count] = {}; // by basic exit reason
    RootTicks root_ticks_other{};                  // basic reasons beyond those
    std::uint64_t first_entry_tsc = 0;             // TSC just before its first VM entry
    std::uint64_t exits_other = 0;
    std::uint64_t io_reads_all_ones = 0;
    std::uint64_t io_writes_dropped = 0;
    std::uint64_t console_bytes = 0;
    std::uint64_t console_lines_dropped = 0; // its share of the console queue was full
    std::uint64_t console_bytes_dropped = 0;
    std::uint64_t hypercalls = 0;
    std::uint64_t ud_injected = 0;
    std::uint64_t gp_injected = 0;
    std::uint64_t host_interrupts = 0;
};

// What the CPUID capacity leaves 0x40000001.. tell the guest (guest/ABI.md, "CPUID"); the session
// fills it from the scheduler and the configuration (vmx/sched/capacity.hpp). All zero = not known:
// the leaves then read zero.
struct GuestCapacity {
    std::uint32_t policy = 0;          // capacity_policy::*: 1 fixed, 2 shared, 3 capped
    std::uint32_t flags = 0;           // capacity_flag::*
    std::uint32_t share_ppm = 0;       // expected share of the CPU while every guest is alive
    std::uint32_t guests = 0;
    std::uint32_t slice_us = 0;
    std::uint32_t frame_us = 0;        // `fixed`: the cyclic frame (sum of the slots); else 0
    std::uint32_t period_us = 0;       // `capped`: the budget period; else 0
    std::uint32_t cap_percent = 0;     // `capped`: the budget per period; else 0
    std::uint64_t slice_ticks = 0;     // the same lengths in TSC ticks
    std::uint64_t frame_ticks = 0;
};

// The MSRs the VMCS does not switch and the hypervisor does: KERNEL_GS_BASE, the SYSCALL MSRs and
// TSC_AUX. A guest reads them directly (while it runs the CPU holds its values). Its writes of
// the SYSCALL MSRs and TSC_AUX exit (vmx/vmcs/msr_bitmap.hpp) and land here as well as in the
// CPU, so these are always the guest's values and are never read back. KERNEL_GS_BASE cannot be
// kept that way: SWAPGS exchanges it with GS.base in guest mode, without an exit (a Linux guest
// does on every entry from user mode), so its accesses pass and a switch reads it back (one RDMSR,
// as KVM does). A switch writes only the MSRs whose values differ from the CPU's
// (vmx/hw/guest_switch.hpp).
struct SyscallMsrs {
    std::uint64_t kernel_gs_base = 0, star = 0, lstar = 0, cstar = 0, fmask = 0, tsc_aux = 0;
};

// The member of `m` that holds `msr`, one of those whose writes exit; null for any other MSR
// (KERNEL_GS_BASE included: its writes do not exit).
inline std::uint64_t* syscall_msr_slot(SyscallMsrs& m, std::uint32_t msr) {
    switch (msr) {
    case msr::ia32_star: return &m.star;
    case msr::ia32_lstar: return &m.lstar;
    case msr::ia32_cstar: return &m.cstar;
    case msr::ia32_fmask: return &m.fmask;
    case msr::ia32_tsc_aux: return &m.tsc_aux;
    default: return nullptr;
    }
}

// The state the VMCS does not switch: those MSRs, and the debug registers DR0-DR3 and DR6, which
// the guest reads and writes without exits and vmx/hw saves and loads when another guest takes
// the CPU.
struct SwitchedState {
    SyscallMsrs msrs{};
    std::uint64_t dr[4] = {0, 0, 0, 0};
    std::uint64_t dr6 = 0xffff0ff0u;
};

struct SwitchBelow; // vmx/run/run_loop.hpp

// What lets a handled exit go straight back to the guest (vmx/exits/exit_handler.cpp) without
// the scheduler: it is set by the run loop at each entry it makes.
struct FastPath {
    // Where a timer exit at the end of the slot may switch to the next slot's guest without the
    // run loop (vmx/run/run_loop.cpp, switch_below_loop); null where it may not.
    SwitchBelow* below = nullptr;
    std::uint64_t deadline = 0;     // the TSC of this guest's next scheduling event (slice end,
                                    // tick due, end of the run): from then on exits go to the loop
    std::uint64_t root_ticks = 0;   // root-mode ticks of the exits it absorbed since that entry
    std::uint64_t exit_tsc = 0;     // the exit it handed to the loop: the TSC right after it
    std::uint32_t timer_rate = 0;   // IA32_VMX_MISC[4:0]
    std::uint32_t timer_limit = 0xffffffffu;
    // A resumed exit that took more root-mode ticks than this re-arms the preemption timer for
    // the deadline: timer_resync_ticks where the CPU saves the timer's value at exits ("save
    // VMX-preemption timer value": the value left is short only by the exit's own time), 0
    // where it does not (every resumed exit re-arms it).
    std::uint64_t rearm_after = 0;
    std::uint8_t outcome = 0;       // ExitOutcome of the exit handed to the loop
    std::uint16_t reason = 0;       // its basic exit reason
    // Nonzero: the fast path's way back must load every register and CR2 from the Vcpu, because
    // a handler set regs.cr2 (a page fault) or wrote RBP or R12-R15, which it does not reload
    // otherwise (the C++ code preserves them).
    std::uint8_t reload = 0;
};

struct PcPlatform; // vmx/devices/pc.hpp

struct Vcpu {
    GuestRegisters regs{};          // first: vm_entry.S addresses it by offset
    std::uint64_t host_rsp = 0;     // the HOST_RSP its VMCS holds (vm_entry.S writes it on change)
    // exit_fast's answer 3: the guest vm_entry.S resumes instead of this one (a slice switch made
    // below the run loop; it is current, and its VMCS's HOST_RSP is this frame too).
    Vcpu* resume_next = nullptr;
    std::uint32_t index = 0;        // in its CPU's schedule (the scheduler's guest number)
    std::uint32_t guest_number = 0; // in the configuration (the console queue, the report)
    const char* name = "";
    std::uint8_t* memory = nullptr; // host pointer to guest-physical 0
    std::uint64_t memory_size = 0;
    bool yield_on_hlt = false;
    bool launched = false;          // VMLAUNCH done: the next entry is VMRESUME
    bool window_armed = false;      // interrupt-window exiting is on for a pending tick
    bool ready = false;             // it made the `ready` hypercall (or needs none: not Linux)
    // Some of switched.msrs' STAR..TSC_AUX may be nonzero: the guest wrote a nonzero value to one
    // (the write exits). False: all are 0, as at reset, and a switch to this guest on a CPU that
    // holds 0 in them compares none of them (vmx/hw/guest_switch.hpp). Here, in the padding before
    // vmcs_physical, so that no field the exit path uses moves.
    bool syscall_msrs_nonzero = false;
    std::uint64_t vmcs_physical = 0;
    std::uint64_t eptp = 0;
    std::uint8_t* extended_state = nullptr; // XSAVE (64-byte aligned) or FXSAVE area
    std::uint64_t xcr0 = 1;                 // the guest's XCR0 (x87 only until it sets more)
    std::uint64_t xcr0_supported = 0;       // what XSETBV may enable (0: no XSAVE)
    SwitchedState switched{};
    FastPath fast{};
    const CpuidTable* cpuid = &no_cpuid_answers; // its answers to CPUID, computed at set-up
    PcPlatform* pc = nullptr;       // a Linux guest's virtual PC; null for guests of guest/ABI.md
    std::uint64_t tsc_offset = 0;   // its TSC minus the host's (mod 2^64): 0 unless `tsc = own`
    // `tsc = own`: its TSC advances only by the time charged to it (allotted). When it leaves the
    // CPU, the scheduler's charged-until mark and its allotted ticks are noted; when it comes back,
    // the offset goes back by the time charged to others meanwhile.
    bool own_tsc = false;
    std::uint64_t left_mark = 0;
    std::uint64_t left_allotted = 0;
    GuestCapacity capacity{};
    GuestStop stop{};
    ConsoleBuffer console{};
    GuestCounters counters{};
};

// vm_entry.S finds these at fixed offsets.
static_assert(offsetof(Vcpu, regs) == 0);
static_assert(offsetof(Vcpu, host_rsp) == 0x80);
static_assert(offsetof(Vcpu, resume_next) == 0x88);

} // namespace vmx
