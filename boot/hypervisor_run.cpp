#include "boot/hypervisor_run.hpp"

#include "boot/free_memory.hpp"

#include "boot/console.hpp"
#include "boot/guest_images.hpp"
#include "boot/kernel_files.hpp"
#include "boot/efi.hpp"
#include "boot/processor_state.hpp"
#include "boot/processors.hpp"
#include "boot/serial.hpp"
#include "vmx/hw/cpu.hpp"
#include "vmx/hw/session.hpp"
#include "vmx/report/report.hpp"
#include "vmx/lib/text.hpp"

extern "C" const unsigned char builtin_guest_image_start[];
extern "C" const unsigned char builtin_guest_image_end[];

namespace boot {
extern std::uint64_t efi_main_tsc; // boot/efi_main.cpp
namespace {

// Every allocation of the run, so all of it goes back to the firmware afterwards: as many as
// prepare_session makes for the most guests and CPUs, and a stack for each CPU but the boot CPU.
struct Allocation {
    EFI_PHYSICAL_ADDRESS address;
    UINTN pages;
};
constexpr std::size_t max_allocations = vmx::hw::max_session_allocations + vmx::max_cpus;
// The stack a started CPU runs its guests on (the firmware's AP stacks are of its own size).
constexpr std::size_t cpu_stack_pages = 16;
Allocation allocations[max_allocations];
std::size_t allocation_count = 0;

// The report's buffer: pages of the firmware's, as many as the longest report of this run's
// guests takes (vmx/report/report.hpp), taken after the run's own memory went back.
struct ReportBuffer {
    EFI_PHYSICAL_ADDRESS address = 0;
    UINTN pages = 0;
    std::size_t bytes = 0;
};

ReportBuffer allocate_report(std::size_t guests, std::size_t cpus) {
    ReportBuffer b;
    b.bytes = vmx::report_capacity(guests, cpus);
    const UINTN pages = (b.bytes + 4095) / 4096;
    EFI_BOOT_SERVICES* bs = firmware.system_table->BootServices;
    if (failed(efi_call(bs->AllocatePages, AllocateAnyPages, EfiLoaderData, pages, &b.address))) return ReportBuffer{};
    b.pages = pages;
    return b;
}

void free_report(const ReportBuffer& b) {
    if (b.pages != 0) efi_call(firmware.system_table->BootServices->FreePages, b.address, b.pages);
}

void* allocate_pages(void*, std::size_t pages) {
    if (allocation_count == max_allocations) return nullptr;
    EFI_PHYSICAL_ADDRESS address = 0;
    EFI_BOOT_SERVICES* bs = firmware.system_table->BootServices;
    if (failed(efi_call(bs->AllocatePages, AllocateAnyPages, EfiLoaderData, UINTN{pages}, &address))) return nullptr;
    auto* bytes = reinterpret_cast<unsigned char*>(address);
    // Zeroed 8 bytes at a time with one string instruction: a byte loop cost 4 instructions a
    // byte, 8.4 million for each 2 MiB guest (tools/metronome bench, "efi_main to first VM entry").
    void* to = bytes;
    std::size_t quads = pages * 512;
    asm volatile("rep stosq" : "+D"(to), "+c"(quads) : "a"(std::uint64_t{0}) : "memory");
    allocations[allocation_count++] = Allocation{address, pages};
    return bytes;
}

// Not the pages holding the TSSs that each CPU's TR still points at (vmx/hw/vmx_root.cpp says
// why), and, unless `blocks_too`, not the CPU blocks either: the report reads their schedulers.
void free_allocations(const vmx::hw::SessionResult& result, bool blocks_too) {
    EFI_BOOT_SERVICES* bs = firmware.system_table->BootServices;
    std::size_t left = 0;
    for (std::size_t i = 0; i < allocation_count; ++i) {
        const void* address = reinterpret_cast<const void*>(allocations[i].address);
        bool kept = false;
        for (std::size_t c = 0; c < result.run_count; ++c) {
            kept = kept || address == result.runs[c].gdt_page;
            if (!blocks_too) kept = kept || address == result.runs[c].block;
        }
        if (kept) {
            allocations[left++] = allocations[i];
            continue;
        }
        efi_call(bs->FreePages, allocations[i].address, allocations[i].pages);
    }
    allocation_count = blocks_too ? 0 : left;
}

// The TSC rate, measured against the firmware's Stall over 20 ms (Bochs' CPUID.15H enumerates
// no crystal, so leaf 15H cannot be trusted: tools/PLATFORMS.md).
std::uint64_t calibrate_tsc() {
    EFI_BOOT_SERVICES* bs = firmware.system_table->BootServices;
    const std::uint64_t start = vmx::hw::rdtsc();
    efi_call(bs->Stall, UINTN{20000});
    return (vmx::hw::rdtsc() - start) * 50;
}

// Guest console lines go to COM1 only (while guests run the TPL is HIGH_LEVEL and UEFI's console
// must not be called), through the queue that never waits (boot/serial.hpp says why).
// "[name] text": a line of the guest; "[name]+ text": the start of one it has not ended yet (an
// interactive guest's prompt), continued by the next piece or line (README, "Linux guests").
bool guest_line(std::uint32_t index, const char* name, const char* line, bool complete) {
    vmx::FixedText<200> text;
    text.chr('[').str(name).str(complete ? "] " : "]+ ").str(line).chr('\n');
    return serial::queue_line(index, text.c_str(), text.size());
}

// Between slices: the queued output goes out. With console_input, a byte typed for that guest
// ends an idle (the run loop hands it on); without, typing changes nothing.
bool pump_console() {
    serial::pump();
    return false;
}

bool pump_console_and_look() {
    serial::pump();
    return serial::input_waiting();
}

// The other CPUs do not send the queue (the boot CPU does); with console_input, the typist's CPU
// only looks.
bool look_for_input() { return serial::input_waiting(); }

// What a started CPU runs: its part of the session on a stack of its own, between two readings
// of its state (the firmware must get it back as it gave it).
struct CpuWork {
    const vmx::hw::SessionSetup* setup = nullptr;
    vmx::hw::CpuRun* run = nullptr;
    void* stack_top = nullptr;
    bool started = false;  // the firmware ran started_cpu on it
    ProcessorState before, after;
};
CpuWork cpu_work[vmx::max_cpus];

void run_cpu_here(void* argument) {
    CpuWork& w = *static_cast<CpuWork*>(argument);
    vmx::hw::run_cpu(*w.setup, *w.run);
}

void started_cpu(void* argument) {
    CpuWork& w = *static_cast<CpuWork*>(argument);
    w.before = read_processor_state(false);
    vmx::hw::metronome_call_on_stack(run_cpu_here, &w, w.stack_top);
    w.after = read_processor_state(false);
    __atomic_store_n(&w.run->done, 1u, __ATOMIC_RELEASE);  // last: the boot CPU reads all of it now
}

// "metronome: [CPU n: ]processor state after the run: unchanged (...)" (`cpu`: null for the
// boot CPU's line, which the tests look for as it always was).
void print_state_change(const vmx::hw::CpuRun* cpu, const ProcessorState& before, const ProcessorState& after) {
    vmx::FixedText<400> line;
    line.str("metronome: ");
    if (cpu != nullptr) line.str("CPU ").dec(cpu->cpu).str(": ");
    line.str("processor state after the run: ");
    describe_state_change(before, after, line);
    print_line(line);
}

// Queued, never waited for: some of these lines come before the first VM entry.
void log_line(const char* line) {
    vmx::FixedText<200> text;
    text.str("metronome: ").str(line).chr('\n');
    serial::queue(text.c_str(), text.size());
}


// What the run allocated, read before the allocations go back to the firmware.
struct Footprint {
    std::uint64_t pages = 0;
    std::size_t allocations = 0;
};

Footprint footprint() {
    Footprint f;
    for (std::size_t i = 0; i < allocation_count; ++i) f.pages += allocations[i].pages;
    f.allocations = allocation_count;
    return f;
}

// One line for tools/metronome bench: boot-to-first-entry TSC and the run's memory footprint.
void print_bench_line(const vmx::hw::SessionResult& result, const FreeMemory& free, const Footprint& used,
                      std::uint64_t session_start_tsc) {
    std::uint64_t first_entry = 0;
    for (std::size_t i = 0; i < result.guest_count; ++i) {
        const std::uint64_t t = result.guests[i].counters.first_entry_tsc;
        if (t != 0 && (first_entry == 0 || t < first_entry)) first_entry = t;
    }
    vmx::FixedText<300> line;
    line.str("METRONOME-BENCH {\"efi_main_tsc\":").dec(efi_main_tsc).str(",\"session_start_tsc\":").dec(session_start_tsc);
    line.str(",\"first_entry_tsc\":").dec(first_entry);
    line.str(",\"free_pages_before_run\":").dec(free.pages).str(",\"largest_free_range_pages\":").dec(free.largest);
    line.str(",\"run_allocated_pages\":").dec(used.pages).str(",\"run_allocations\":").dec(used.allocations).chr('}');
    print_line(line);
}

} // namespace

bool run_hypervisor(const vmx::Config& config, const vmx::CpuFacts& facts) {
    static vmx::hw::SessionSetup setup; // large: not on the firmware's stack
    setup.config = &config;
    setup.caps = facts.caps;
    setup.tsc_hz = config.tsc_hz != 0 ? config.tsc_hz : calibrate_tsc();
    setup.cpuid15_eax = facts.leaf_15h_eax;
    setup.cpuid15_ebx = facts.leaf_15h_ebx;
    setup.builtin_image = builtin_guest_image_start;
    setup.builtin_image_size = static_cast<std::size_t>(builtin_guest_image_end - builtin_guest_image_start);
    for (unsigned i = 0; i < config.guest_count; ++i) {
        setup.image_file[i] = guest_image_file(i, &setup.image_file_size[i]);  // boot/guest_images.hpp
        const KernelFiles k = kernel_files(i);                                 // boot/kernel_files.hpp
        setup.kernel_file[i] = k.kernel;
        setup.kernel_file_size[i] = k.kernel_size;
        setup.initrd_file[i] = k.initrd;
        setup.initrd_file_size[i] = k.initrd_size;
    }
    setup.pages.allocate = allocate_pages;
    setup.console = guest_line;
    serial::share_queue(config.guest_count);
    setup.log = log_line;
    setup.background = pump_console;
    setup.background_every = serial::burst_ticks(setup.tsc_hz);
    if (config.console_input[0] != '\0') {
        serial::open_input();
        setup.console_input = serial::receive;
        setup.background = pump_console_and_look;
        setup.background_other = look_for_input;
        // From here on COM1's input is read (the tool holds what was typed until this line:
        // tools/metronome_tool/console_link.py).
        vmx::FixedText<80> line;
        line.str("METRONOME-INPUT ").str(config.console_input);
        print_line(line);
    }
    {
        vmx::FixedText<160> line;
        line.str("TSC: ").dec(setup.tsc_hz).str(" Hz (").str(config.tsc_hz != 0 ? "configured" : "calibrated against Stall");
        line.str("); ").dec(config.guest_count).str(" guests, policy ").str(vmx::policy_name(config.policy));
        line.str(", slice ").dec(config.slice_us).str(" us, ").dec(config.duration_ms).str(" ms");
        print_line(line);
    }

    static vmx::hw::SessionResult result;
    const FreeMemory free = free_memory();
    vmx::FixedText<1024> error;
    EFI_BOOT_SERVICES* bs = firmware.system_table->BootServices;
    const Processors& cpus = processors();
    const ProcessorState before = read_processor_state();
    const std::uint64_t session_start_tsc = vmx::hw::rdtsc();
    if (!vmx::hw::prepare_session(setup, result, error)) {
        free_allocations(result, true);
        print_state_change(nullptr, before, read_processor_state());
        vmx::FixedText<1100> line;
        line.str("METRONOME-ERROR ").str(error.c_str());
        print_error(line);
        return false;
    }
    // A stack for each CPU but the boot CPU, while the firmware's memory services may be called.
    for (std::size_t c = 0; c < result.run_count; ++c) {
        vmx::hw::CpuRun& run = result.runs[c];
        run.boot_cpu = run.cpu == cpus.boot_number;
        cpu_work[c] = CpuWork{};
        cpu_work[c].setup = &setup;
        cpu_work[c].run = &run;
        if (run.boot_cpu) continue;
        auto* stack = static_cast<unsigned char*>(allocate_pages(nullptr, cpu_stack_pages));
        if (stack == nullptr) {
            vmx::Text(run.error, sizeof run.error).str("no memory for its stack");
            run.done = 1;
        }
        cpu_work[c].stack_top = stack == nullptr ? nullptr : stack + cpu_stack_pages * 4096;
    }
    const EFI_TPL previous = efi_call(bs->RaiseTPL, static_cast<EFI_TPL>(TPL_HIGH_LEVEL));
    // The other CPUs first, so that all start together; the boot CPU runs its own guests, or
    // sends the console queue while the others run theirs.
    for (std::size_t c = 0; c < result.run_count; ++c) {
        vmx::hw::CpuRun& run = result.runs[c];
        if (run.boot_cpu || run.done != 0) continue;
        std::uint64_t status = 0;
        cpu_work[c].started = start_processor(run.cpu, started_cpu, &cpu_work[c], status);
        if (!cpu_work[c].started) {
            vmx::Text(run.error, sizeof run.error).str("the firmware's MP services did not start it (EFI status ").hex(status).chr(')');
            run.done = 1;
        }
    }
    for (std::size_t c = 0; c < result.run_count; ++c) {
        vmx::hw::CpuRun& run = result.runs[c];
        if (!run.boot_cpu) continue;
        vmx::hw::run_cpu(setup, run);
        run.done = 1;
    }
    for (std::size_t c = 0; c < result.run_count; ++c) {
        while (__atomic_load_n(&result.runs[c].done, __ATOMIC_ACQUIRE) == 0) {
            serial::pump();
            vmx::hw::pause();
        }
    }
    efi_call(bs->RestoreTPL, previous);
    release_processors();
    vmx::hw::finish_session(result);
    print_state_change(nullptr, before, read_processor_state());
    for (std::size_t c = 0; c < result.run_count; ++c) {
        const vmx::hw::CpuRun& run = result.runs[c];
        // Every CPU that was started, whether its VMX root came up or not.
        if (cpu_work[c].started) print_state_change(&run, cpu_work[c].before, cpu_work[c].after);
    }
    for (std::size_t c = 0; c < result.run_count; ++c) {
        const vmx::hw::CpuRun& run = result.runs[c];
        if (!run.ran) continue;
        vmx::FixedText<200> line;
        line.str("metronome: CPU ").dec(run.cpu).str(" idle: ").dec(run.idle_sleeps).str(" mwait sleeps, ");
        line.dec(run.idle_wakes).str(" wake-up interrupts taken");
        print_line(line);
    }
    const Footprint used = footprint();
    free_allocations(result, false);

    serial::flush();
    bool any_ran = false, all_ok = true;
    for (std::size_t c = 0; c < result.run_count; ++c) {
        const vmx::hw::CpuRun& run = result.runs[c];
        any_ran = any_ran || run.ran;
        if (run.ran && run.left) continue;
        all_ok = false;
        vmx::FixedText<1100> line;
        line.str("METRONOME-ERROR ");
        if (result.run_count > 1 || !run.boot_cpu) line.str("CPU ").dec(run.cpu).str(": ");
        line.str(run.ran ? "leaving VMX: " : "").str(run.error);
        print_error(line);
    }
    if (any_ran) print_bench_line(result, free, used, session_start_tsc);
    if (serial::dropped_bytes() != 0) {
        vmx::FixedText<120> line;
        line.str("metronome: guest console: ").dec(serial::dropped_bytes());
        line.str(" bytes dropped (a guest's share of the queue was full; per guest in the report)");
        print_line(line);
    }
    if (!any_ran) {
        free_allocations(result, true);
        return false;
    }
    static vmx::ReportCpu report_cpus[vmx::max_cpus];
    for (std::size_t c = 0; c < result.run_count; ++c) {
        const vmx::hw::CpuRun& run = result.runs[c];
        vmx::ReportCpu& rc = report_cpus[c];
        rc = vmx::ReportCpu{};
        rc.cpu = run.cpu;
        rc.apic_id = run.cpu < cpus.count ? cpus.cpu[run.cpu].apic_id : 0;
        rc.scheduler = &run.block->scheduler;
        rc.window = &run.window;
        rc.idle_method = run.idle_method;
        rc.feature_control = run.feature_control;
        rc.error = run.error;
        rc.ran = run.ran;
        rc.first = run.first;
        rc.count = run.count;
    }
    vmx::ReportInput in;
    in.config = &config;
    in.cpus = report_cpus;
    in.cpu_count = result.run_count;
    in.position = result.position;
    in.guests = result.guests;
    in.guest_count = result.guest_count;
    in.progress = result.progress;
    in.ticks_seen = result.ticks_seen;
    in.tsc_hz = setup.tsc_hz;
    in.tsc_configured = config.tsc_hz != 0;
    in.timer_rate = facts.caps.preemption_timer_rate();
    in.extended_state = result.extended_state;
    in.platform = facts.brand;
    in.capabilities = vmx::assess_capabilities(facts);
    const ReportBuffer buffer = allocate_report(in.guest_count, in.cpu_count);
    if (buffer.pages == 0) {
        free_allocations(result, true);
        vmx::FixedText<120> line;
        line.str("METRONOME-ERROR no memory for the report (").dec(vmx::report_capacity(in.guest_count, in.cpu_count)).str(" bytes)");
        print_error(line);
        return false;
    }
    vmx::Text report(reinterpret_cast<char*>(buffer.address), buffer.bytes);
    vmx::write_report_table(in, report);
    print_line(report);
    report.clear();
    report.str("METRONOME-REPORT ");
    vmx::write_report_json(in, report);
    const bool fitted = !report.truncated();
    if (fitted) print_line(report);
    free_report(buffer);
    free_allocations(result, true);
    if (!fitted) {
        print_error("METRONOME-ERROR the report did not fit its buffer");
        return false;
    }
    return all_ok;
}

} // namespace boot
