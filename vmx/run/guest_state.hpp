// What the hypervisor knows about one running guest besides its VMCS: its registers, its
// memory, why it stopped, what it printed, and its exit counters.
#pragma once
#include <cstddef>
#include <cstdint>

#include "vmx/arch/exit_reasons.hpp"
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

// Lines the guest writes to the console port are collected here and flushed per line.
struct ConsoleBuffer {
    static constexpr std::size_t capacity = 120;
    char text[capacity + 1] = {};
    std::size_t length = 0;
};

// Root-mode TSC ticks spent on one kind of exit: from the run loop's first TSC read after the
// VM exit to its last one before the next VM entry (tools/metronome bench reads them; in Bochs
// one tick is one instruction). Integers only: the mean is total / count.
struct RootTicks {
    std::uint64_t count = 0;
    std::uint64_t total = 0;
    std::uint32_t min = 0;
    std::uint32_t max = 0;
    void add(std::uint64_t ticks) {
        const std::uint32_t t = ticks > 0xffffffffu ? 0xffffffffu : static_cast<std::uint32_t>(ticks);
        if (count == 0 || t < min) min = t;
        if (t > max) max = t;
        ++count;
        total += ticks;
    }
};

struct GuestCounters {
    std::uint64_t exits[exit_reason::count] = {};
    RootTicks root_ticks[exit_reason::count] = {}; // by basic exit reason
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

struct GuestContext {
    std::uint32_t index = 0;
    const char* name = "";
    GuestRegisters regs{};
    std::uint8_t* memory = nullptr;      // host pointer to guest-physical 0
    std::uint64_t memory_size = 0;
    std::uint64_t xcr0 = 1;              // the guest's XCR0 (x87 only until it sets more)
    bool yield_on_hlt = false;
    GuestStop stop{};
    ConsoleBuffer console{};
    GuestCounters counters{};
    GuestCapacity capacity{};
};

} // namespace vmx
