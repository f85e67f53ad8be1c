// One run of Metronome on the real processor, from VMXON to VMXOFF: builds every guest (memory,
// EPT, VMCS from the encoder's plan), masks the firmware's interrupts, runs the schedule, and
// restores everything the firmware had. Memory comes from the caller (boot/ asks UEFI).
// Called with the firmware's TPL raised to HIGH_LEVEL (interrupts off); returns with every
// piece of processor state as it found it, except IA32_FEATURE_CONTROL, which stays locked if
// Metronome locked it (the lock cannot be undone until reset).
#pragma once
#include <cstddef>
#include <cstdint>

#include "vmx/caps/caps.hpp"
#include "vmx/config/config.hpp"
#include "vmx/hw/cpu_block.hpp"
#include "vmx/run/run_loop.hpp"
#include "vmx/run/vcpu.hpp"
#include "vmx/sched/scheduler.hpp"
#include "vmx/lib/text.hpp"

namespace vmx::hw {

// What run_session asks its PageSource for: five allocations for the CPU (the MSR bitmap, the
// host's FPU area, the VMXON region, the host GDT, the idle wake-up IDT) and four per guest (its
// memory, its EPT tables, its VMCS, its FPU area). A caller that keeps a table of what it handed
// out sizes it from this.
inline constexpr std::size_t session_allocations_shared = 5;
inline constexpr std::size_t session_allocations_per_guest = 4;
inline constexpr std::size_t max_session_allocations =
    session_allocations_shared + session_allocations_per_guest * max_guests;

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
    // The next byte typed for the console_input guest, or -1; null when there is none.
    int (*console_input)() = nullptr;
};

struct SessionResult {
    bool ran = false;
    Scheduler* scheduler = nullptr;
    Vcpu* guests = nullptr;
    std::size_t guest_count = 0;
    std::uint64_t progress[max_guests] = {};
    std::uint64_t ticks_seen[max_guests] = {};
    std::uint64_t vmx_failed_accesses = 0;
    const char* feature_control = "";
    const char* extended_state = "";  // "xsave" or "fxsave"
    const char* idle_method = "pause loop polling the TSC";
    std::uint32_t timer_limit = 0xffffffffu;
    const MeasurementWindow* window = nullptr; // the measurement window (measure_ms), if any
    // A page the caller must not free: TR still names the TSS in it after VMXOFF.
    const void* kept_page = nullptr;
};

// False (and `error` says why, in words) if the guests could not be built or VMX could not be
// entered; in that case nothing ran and the machine is as it was.
bool run_session(const SessionSetup& setup, SessionResult& result, Text& error);

} // namespace vmx::hw
