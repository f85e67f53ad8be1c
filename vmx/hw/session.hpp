// One run of Metronome on the real processors, from VMXON to VMXOFF on each CPU that has guests:
// builds every guest (memory, EPT, VMCS from the encoder's plan), masks the firmware's
// interrupts, runs each CPU's schedule, and restores everything the firmware had. Memory comes
// from the caller (boot/ asks UEFI), and so does starting the other CPUs (MP services).
// Each CPU's part runs with its interrupts off and returns with every piece of its state as it
// found it, except IA32_FEATURE_CONTROL, which stays locked if Metronome locked it (the lock
// cannot be undone until reset).
#pragma once
#include <cstddef>
#include <cstdint>

#include "vmx/caps/caps.hpp"
#include "vmx/config/config.hpp"
#include "vmx/guest/guest_layout.hpp"
#include "vmx/hw/cpu_block.hpp"
#include "vmx/run/run_loop.hpp"
#include "vmx/run/vcpu.hpp"
#include "vmx/sched/scheduler.hpp"
#include "vmx/lib/text.hpp"

namespace vmx::hw {

// What prepare_session asks its PageSource for: one allocation for the session (the MSR bitmap),
// five per CPU in use (its CPU block, the host's FPU area, the VMXON region, the host GDT, the idle
// wake-up IDT) and four per guest (its memory, its EPT tables, its VMCS, its FPU area). A caller
// that keeps a table of what it handed out sizes it from this.
inline constexpr std::size_t session_allocations_shared = 1;
inline constexpr std::size_t session_allocations_per_cpu = 5;
inline constexpr std::size_t session_allocations_per_guest = 4;
inline constexpr std::size_t max_session_allocations = session_allocations_shared +
    session_allocations_per_cpu * max_cpus + session_allocations_per_guest * max_guests;

struct PageSource {
    // Zeroed, 4 KiB-aligned, identity-mapped pages; nullptr when memory is exhausted.
    void* (*allocate)(void* context, std::size_t pages) = nullptr;
    void* context = nullptr;
};

struct SessionSetup {
    const Config* config = nullptr;
    VmxCaps caps{};
    std::uint64_t tsc_hz = 0;
    std::uint32_t cpuid15_eax = 0, cpuid15_ebx = 0;
    const std::uint8_t* builtin_image = nullptr;
    std::size_t builtin_image_size = 0;
    // Per guest whose image is a path: the file's bytes as boot/ read them from the ESP (boot/
    // validated them with vmx/guest/elf_image.hpp before VMX was touched); null for built-in images.
    const std::uint8_t* image_file[max_guests] = {};
    std::size_t image_file_size[max_guests] = {};
    // Per Linux guest (`kernel = PATH`): its kernel's and initrd's bytes, as boot/ read and
    // checked them (vmx/guest/linux_boot.hpp); null for the other guests and where no initrd.
    const std::uint8_t* kernel_file[max_guests] = {};
    std::size_t kernel_file_size[max_guests] = {};
    const std::uint8_t* initrd_file[max_guests] = {};
    std::size_t initrd_file_size[max_guests] = {};
    PageSource pages{};
    ConsoleSink console = nullptr;             // one line of one guest
    void (*log)(const char* line) = nullptr;   // the hypervisor's own progress lines
    // Bounded, non-blocking work done before every VM entry and while idling (console output);
    // true when a byte for the console_input guest is waiting (an idle ends for it).
    bool (*background)() = nullptr;
    // Between slices the boot CPU's background runs at most once per this many TSC ticks (the
    // time its UART takes to send what one call gives it; 0: at every slice switch).
    std::uint64_t background_every = 0;
    // The same for the other CPUs (they do not send the console queue: the boot CPU does); may be
    // null.
    bool (*background_other)() = nullptr;
    // The next byte typed for the console_input guest, or -1; null when there is none.
    int (*console_input)() = nullptr;
};

// One processor's part of a session: its guests (contiguous among the session's Vcpus, in the
// order of the configuration), its CPU block and pages, and what its run came to. Everything is
// allocated by prepare_session on the boot CPU (the firmware's memory services are the boot CPU's
// alone); run_cpu then runs on the processor itself and touches nothing of the other CPUs'.
struct CpuRun {
    std::uint32_t cpu = 0;             // the firmware's number of the processor (the `cpu` key)
    CpuBlock* block = nullptr;
    Vcpu* guests = nullptr;
    std::size_t first = 0, count = 0;  // its guests are the session's Vcpus first..first+count-1
    void* vmxon_page = nullptr;
    void* gdt_page = nullptr;          // the caller must not free it: TR names its TSS after VMXOFF
    void* idle_idt_page = nullptr;
    std::uint8_t* host_area = nullptr;
    bool boot_cpu = false;             // the PIC and the console queue are this CPU's
    const GuestEntryState* entry = nullptr; // every guest's first-entry state, by configuration index
    std::uint64_t msr_bitmap = 0;      // the physical address of the MSR bitmap all guests share
    RunOptions options{};
    MeasurementWindow window{};
    // What the run came to.
    bool ran = false;                  // VMX was entered and the schedule ran
    bool left = false;                 // and VMX operation was left without an error
    const char* feature_control = "";
    const char* idle_method = "pause loop polling the TSC";
    std::uint64_t idle_sleeps = 0, idle_wakes = 0;
    char error[700] = {};              // why it did not run, or what failed at the end ("": nothing)
    volatile std::uint32_t done = 0;   // set last by the processor itself, after run_cpu
};

struct SessionResult {
    bool prepared = false;             // every guest was built; the CPUs may run
    Vcpu* guests = nullptr;            // by position: CPU by CPU, each CPU's in configuration order
    std::size_t guest_count = 0;
    std::size_t position[max_guests] = {}; // configuration index -> position among the Vcpus
    CpuRun* runs = nullptr;            // one per CPU that has guests, by CPU number
    std::size_t run_count = 0;
    // Per guest, by configuration index, from its start-info page (finish_session).
    std::uint64_t progress[max_guests] = {};
    std::uint64_t ticks_seen[max_guests] = {};
    const char* extended_state = "";  // "xsave" or "fxsave"
    std::uint32_t timer_limit = 0xffffffffu;
};

// On the boot CPU, before any CPU enters VMX: builds every guest (memory, EPT, image or kernel) and
// every CPU's block and pages, and initialises each CPU's scheduler. False (and `error` says why,
// in words) when something could not be built: nothing has touched VMX then.
bool prepare_session(const SessionSetup& setup, SessionResult& result, Text& error);
// On processor run.cpu, with its interrupts off: VMXON, its guests' VMCSs, its schedule, VMXOFF.
// Leaves the processor's state as it found it (IA32_FEATURE_CONTROL stays locked if it locked it);
// run.ran, run.left and run.error say how it went (the caller sets run.done after it).
void run_cpu(const SessionSetup& setup, CpuRun& run);
// After every CPU is done: what the guests wrote into their start-info pages.
void finish_session(SessionResult& result);

} // namespace vmx::hw
