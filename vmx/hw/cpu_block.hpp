// Everything one physical CPU needs to run its guests, in one block instead of file-scope
// globals: its VMX root (VMXON region, host GDT and TSS), the host state saved for the end of the
// run, its idle method and interrupt masks, the shape of its XSAVE area, where its guests' console
// lines go, its scheduler and the guest it has loaded. One block per CPU that runs guests; while
// it runs them, its IA32_GS_BASE (and the VMCS's host GS base) points at the block's header, so
// this_cpu() is one GS-relative load and nothing on the hot path is shared between CPUs.
// Target only.
#pragma once
#include <cstddef>
#include <cstdint>

#include "vmx/exits/cpuid_table.hpp"
#include "vmx/hw/idle.hpp"
#include "vmx/hw/interrupt_masks.hpp"
#include "vmx/hw/vmx_root.hpp"
#include "vmx/run/vcpu.hpp"
#include "vmx/sched/scheduler.hpp"
#include "vmx/vmcs/vmcs_plan.hpp"

namespace vmx::hw {

// The host's values of the state the VMCS does not switch, saved before the first guest and
// restored at the end.
struct HostSavedState {
    SyscallMsrs msrs;
    std::uint64_t dr[4], dr6, dr7, cr2;
};

// One guest's console line to the output queue; false when that guest's share of it is full.
using ConsoleSink = bool (*)(std::uint32_t guest_index, const char* guest_name, const char* line, bool complete);

struct CpuBlock;

// The first bytes GS addresses in root mode (vmx/hw/idle_stub.S writes idle_interrupted by its
// offset).
struct CpuHeader {
    CpuBlock* self = nullptr;
    volatile std::uint8_t idle_interrupted = 0; // the idle wake-up interrupt arrived
};
static_assert(offsetof(CpuHeader, self) == 0 && offsetof(CpuHeader, idle_interrupted) == 8,
              "vmx/hw/idle_stub.S addresses these by offset from GS");

struct CpuBlock {
    CpuHeader header;
    VmxRoot root;
    InterruptMasks masks;
    Idle idle;
    HostSavedState host{};
    std::uint8_t* host_extended_state = nullptr;
    std::uint64_t xsave_mask = 0;   // the XCR0 state is saved and restored with (0: FXSAVE)
    bool rdtscp = false;            // IA32_TSC_AUX exists and is switched
    SyscallMsrs msrs_in_cpu{};      // what the CPU holds now (vmx/hw/guest_switch.hpp)
    // The CPU holds 0 in STAR, LSTAR, CSTAR, FMASK and (where switched) TSC_AUX: a switch to a
    // guest whose values are all 0 (Vcpu::syscall_msrs_nonzero false) writes none of them.
    bool syscall_msrs_zero = false;
    ConsoleSink console = nullptr;
    // Bounded work between slices (draining the console queue); true when console input is
    // waiting, which ends an idle early.
    bool (*background)() = nullptr;
    // Between slices it runs no sooner than background_due, then again background_every later
    // (SessionSetup::background_every): a look at the UART while it cannot take more is skipped
    // with one comparison instead of a call and a port read (about a microsecond on real hardware).
    std::uint64_t background_every = 0;
    std::uint64_t background_due = 0;
    int (*console_input)() = nullptr; // a byte typed for the console_input guest, or -1
    Vcpu* loaded = nullptr;         // the guest whose VMCS is current
    std::uint32_t last_instruction_error = 0;
    std::uint64_t failed_accesses = 0;
    Scheduler scheduler;
    VmcsPlan plan;
    CpuidTable cpuid;               // the answers its Metronome guests get
    CpuidTable linux_cpuid;         // and its Linux guests (vmx/exits/cpuid_table.hpp)
};

// The block of the CPU this code runs on (only while it runs guests: run_cpu sets GS).
inline CpuBlock& this_cpu() {
    CpuBlock* block;
    asm("mov %%gs:0, %0" : "=r"(block));
    return *block;
}

// Fresh FPU/SSE/AVX state for a guest: x87 and SSE control words at their reset values.
void init_extended_state(std::uint8_t* area);
// The host's state before the first guest, and back at the end (`current`: the guest still
// loaded, whose FPU state is saved first; may be null).
void save_host_state(CpuBlock& cpu);
void restore_host_state(CpuBlock& cpu, Vcpu* current);

} // namespace vmx::hw
