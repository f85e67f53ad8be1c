#include "boot/hypervisor_run.hpp"

#include "boot/console.hpp"
#include "boot/efi.hpp"
#include "boot/serial.hpp"
#include "vmx/hw/cpu.hpp"
#include "vmx/hw/session.hpp"
#include "vmx/report.hpp"
#include "vmx/text.hpp"

extern "C" const unsigned char builtin_guest_image_start[];
extern "C" const unsigned char builtin_guest_image_end[];

namespace boot {
namespace {

// Every allocation of the run, so all of it goes back to the firmware afterwards.
struct Allocation {
    EFI_PHYSICAL_ADDRESS address;
    UINTN pages;
};
constexpr std::size_t max_allocations = 512;
Allocation allocations[max_allocations];
std::size_t allocation_count = 0;

constexpr std::size_t report_capacity = 256 * 1024;
char report_bytes[report_capacity];

void* allocate_pages(void*, std::size_t pages) {
    if (allocation_count == max_allocations) return nullptr;
    EFI_PHYSICAL_ADDRESS address = 0;
    EFI_BOOT_SERVICES* bs = firmware.system_table->BootServices;
    if (failed(efi_call(bs->AllocatePages, AllocateAnyPages, EfiLoaderData, UINTN{pages}, &address))) return nullptr;
    auto* bytes = reinterpret_cast<unsigned char*>(address);
    for (std::size_t i = 0; i < pages * 4096; ++i) bytes[i] = 0;
    allocations[allocation_count++] = Allocation{address, pages};
    return bytes;
}

// `keep`: the page holding the TSS that TR still points at (vmx/hw/vmx_root.cpp says why).
void free_allocations(const void* keep) {
    EFI_BOOT_SERVICES* bs = firmware.system_table->BootServices;
    for (std::size_t i = 0; i < allocation_count; ++i) {
        if (reinterpret_cast<const void*>(allocations[i].address) == keep) continue;
        efi_call(bs->FreePages, allocations[i].address, allocations[i].pages);
    }
    allocation_count = 0;
}

// The TSC rate, measured against the firmware's Stall over 20 ms (Bochs' CPUID.15H enumerates
// no crystal, so leaf 15H cannot be trusted: ../shared/notes).
std::uint64_t calibrate_tsc() {
    EFI_BOOT_SERVICES* bs = firmware.system_table->BootServices;
    const std::uint64_t start = vmx::hw::rdtsc();
    efi_call(bs->Stall, UINTN{20000});
    return (vmx::hw::rdtsc() - start) * 50;
}

// Guest console lines go to COM1 only (while guests run the TPL is HIGH_LEVEL and UEFI's console
// must not be called), through the queue that never waits (boot/serial.hpp says why).
void guest_line(const char* name, const char* line) {
    vmx::FixedText<200> text;
    text.chr('[').str(name).str("] ").str(line).chr('\n');
    serial::queue(text.c_str(), text.size());
}

void log_line(const char* line) {
    vmx::FixedText<200> text;
    text.str("metronome: ").str(line).chr('\n');
    serial::write(text.c_str(), text.size());
}

} // namespace

bool run_hypervisor(const vmx::Config& config, const vmx::CpuFacts& facts) {
    vmx::hw::SessionSetup setup;
    setup.config = &config;
    setup.caps = facts.caps;
    setup.tsc_hz = config.tsc_hz != 0 ? config.tsc_hz : calibrate_tsc();
    setup.cpuid15_eax = facts.leaf_15h_eax;
    setup.cpuid15_ebx = facts.leaf_15h_ebx;
    setup.builtin_image = builtin_guest_image_start;
    setup.builtin_image_size = static_cast<std::size_t>(builtin_guest_image_end - builtin_guest_image_start);
    setup.pages.allocate = allocate_pages;
    setup.console = guest_line;
    setup.log = log_line;
    setup.background = serial::pump;
    {
        vmx::FixedText<160> line;
        line.str("TSC: ").dec(setup.tsc_hz).str(" Hz (").str(config.tsc_hz != 0 ? "configured" : "calibrated against Stall");
        line.str("); ").dec(config.guest_count).str(" guests, policy ").str(vmx::policy_name(config.policy));
        line.str(", slice ").dec(config.slice_us).str(" us, ").dec(config.duration_ms).str(" ms");
        print_line(line);
    }

    static vmx::hw::SessionResult result;
    vmx::FixedText<1024> error;
    EFI_BOOT_SERVICES* bs = firmware.system_table->BootServices;
    const EFI_TPL previous = efi_call(bs->RaiseTPL, static_cast<EFI_TPL>(TPL_HIGH_LEVEL));
    const bool ok = vmx::hw::run_session(setup, result, error);
    efi_call(bs->RestoreTPL, previous);
    free_allocations(result.kept_page);

    serial::flush();
    if (serial::dropped_bytes() != 0) {
        vmx::FixedText<120> line;
        line.str("metronome: guest console: ").dec(serial::dropped_bytes()).str(" bytes dropped (queue full)");
        print_line(line);
    }
    if (!result.ran) {
        vmx::FixedText<1100> line;
        line.str("METRONOME-ERROR ").str(error.c_str());
        print_line(line);
        return false;
    }
    if (!ok) {
        vmx::FixedText<1100> line;
        line.str("METRONOME-ERROR leaving VMX: ").str(error.c_str());
        print_line(line);
    }
    vmx::ReportInput in;
    in.config = &config;
    in.scheduler = result.scheduler;
    in.guests = result.guests;
    in.guest_count = result.guest_count;
    in.progress = result.progress;
    in.ticks_seen = result.ticks_seen;
    in.tsc_hz = setup.tsc_hz;
    in.tsc_configured = config.tsc_hz != 0;
    in.timer_rate = facts.caps.preemption_timer_rate();
    in.extended_state = result.extended_state;
    in.idle_method = result.idle_method;
    in.feature_control = result.feature_control;
    in.platform = facts.brand;
    vmx::Text report(report_bytes, report_capacity);
    vmx::write_report_table(in, report);
    print_line(report);
    report.clear();
    report.str("METRONOME-REPORT ");
    vmx::write_report_json(in, report);
    if (report.truncated()) {
        print_line("METRONOME-ERROR the report did not fit its buffer");
        return false;
    }
    print_line(report);
    return ok;
}

} // namespace boot
