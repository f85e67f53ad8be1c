// What the hypervisor knows about one running guest besides its VMCS: its registers, its
// memory, why it stopped, what it printed, and its exit counters.
#pragma once
#include <cstddef>
#include <cstdint>

#include "vmx/exit_reasons.hpp"
#include "vmx/guest_registers.hpp"

namespace vmx {

enum class StopReason : std::uint8_t {
    none,
    powerdown,           // VMCALL powerdown
    triple_fault,
    ept_violation,       // access outside its memory
    entry_failure,       // VM entry refused the guest state
    unhandled_exit,      // an exit Metronome has no answer for
    hypervisor_error,    // a VMX instruction failed while serving this guest
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

struct GuestCounters {
    std::uint64_t exits[exit_reason::count] = {};
    std::uint64_t exits_other = 0;
    std::uint64_t io_reads_all_ones = 0;
    std::uint64_t io_writes_dropped = 0;
    std::uint64_t console_bytes = 0;
    std::uint64_t hypercalls = 0;
    std::uint64_t ud_injected = 0;
    std::uint64_t gp_injected = 0;
    std::uint64_t host_interrupts = 0;
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
};

} // namespace vmx
