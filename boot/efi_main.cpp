// metronome.efi's entry point. For now it checks the CPU and reports what it found; the
// hypervisor proper (VMXON, guests, the schedule) will run between the report and the end.
//
// Output contract with the host tool (tools/metronome_tool): the line `METRONOME-CAPS {json}`
// carries the capability facts, and `METRONOME-END` is the last line of every run.
#include "boot/console.hpp"
#include "boot/cpu_facts.hpp"
#include "boot/efi.hpp"
#include "boot/finish.hpp"
#include "boot/free_memory.hpp"
#include "boot/configuration.hpp"
#include "boot/hypervisor_run.hpp"
#include "boot/guest_images.hpp"
#include "boot/kernel_files.hpp"
#include "boot/processors.hpp"
#include "vmx/caps/capability_report.hpp"
#include "vmx/guest/memory_budget.hpp"
#include "vmx/hw/debug_break.hpp"
#include "vmx/hw/cpu.hpp"
#include "vmx/lib/text.hpp"

#ifndef METRONOME_VERSION
#define METRONOME_VERSION "0.0.0-unknown"
#endif

namespace boot {

Firmware firmware;
// TSC at the top of efi_main: the bench's "instructions from efi_main to the first VM entry"
// (boot/hypervisor_run.cpp prints it beside the first entry's TSC).
extern std::uint64_t efi_main_tsc;
std::uint64_t efi_main_tsc = 0;

namespace {

void report_configuration(const LoadedConfiguration& loaded) {
    vmx::FixedText<200> line;
    line.str("Configuration: \\metronome.cfg ");
    if (loaded.file_found) {
        line.str("read (").dec(loaded.file_size).str(" bytes)");
    } else {
        line.str("not found");
    }
    if (loaded.options_used) line.str(", load options applied");
    if (loaded.ok) {
        line.str("; ").dec(loaded.config->guest_count).str(" guests; on_finish = ");
        line.str(vmx::on_finish_name(loaded.config->on_finish));
    }
    print_line(line);
}

void report_capabilities(const vmx::CpuFacts& facts) {
    vmx::FixedText<4096> report;
    vmx::write_capability_report(facts, report);
    print_line(report);
    vmx::FixedText<2048> json;
    vmx::write_capability_json(facts, json);
    // A cut JSON line would be parsed wrongly by the tool: say so instead of printing it.
    if (json.truncated())
        print_error("METRONOME-ERROR capability JSON did not fit its buffer");
    else
        print_line(json);
}

} // namespace

} // namespace boot

extern "C" EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE* system_table);

// Called by gnu-efi's crt0 after it applied the image's relocations, with the SysV convention.
extern "C" EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE* system_table) {
    boot::efi_main_tsc = vmx::hw::rdtsc();
    boot::firmware.image = image;
    boot::firmware.system_table = system_table;
    // The boot manager arms a 5-minute watchdog before starting a boot option; a long run (and
    // anything in Bochs is long) must not be reset in the middle.
    boot::efi_call(system_table->BootServices->SetWatchdogTimer, UINTN{0}, UINT64{0}, UINTN{0},
                   static_cast<CHAR16*>(nullptr));

    // The screen gets one line; the report goes to COM1 (boot/console.hpp says why).
    boot::show_line("Metronome " METRONOME_VERSION ": running; its output goes to COM1 (115200 8N1)");
    boot::print_line("");
    boot::print_line("Metronome " METRONOME_VERSION
                     " \u2014 fixed time slices by the VMX preemption timer");
    const boot::LoadedConfiguration loaded = boot::load_configuration();
    boot::report_configuration(loaded);
    if (loaded.ok) vmx::hw::arm_debug_breaks(*loaded.config);  // debug_break: tools/metronome debug

    const vmx::CpuFacts facts = boot::read_cpu_facts();
    boot::report_capabilities(facts);
    {
        vmx::FixedText<200> line;
        boot::describe_processors(line);
        boot::print_line(line);
    }
    const vmx::Capabilities capabilities = vmx::assess_capabilities(facts);
    const bool can_run = capabilities.can_run();

    // A bad configuration never reaches VMX: one error line, and the run ends here.
    bool ok = can_run;
    if (!loaded.ok) {
        vmx::FixedText<400> line;
        line.str("METRONOME-ERROR ").str(loaded.error);
        boot::print_error(line);
        ok = false;
    } else if (loaded.config->guest_count > 0) {
        // A bad guest image, kernel or initrd file (boot/guest_images.hpp, boot/kernel_files.hpp)
        // and guests that could never fit in the memory left are refused before VMX is touched:
        // one line, nothing runs.
        static char image_error[400];
        const bool files_ok = boot::guest_cpus_exist(*loaded.config, image_error, sizeof image_error) &&
                              boot::load_guest_images(*loaded.config, image_error, sizeof image_error) &&
                              boot::load_kernel_files(*loaded.config, image_error, sizeof image_error);
        // Measured after the files are in memory: what is left is what the guests can have.
        const boot::FreeMemory free = boot::free_memory();
        const vmx::MemoryFit fit = vmx::fit_guests(*loaded.config, free.pages, free.largest);
        if (!files_ok) {
            vmx::FixedText<440> line;
            line.str("METRONOME-ERROR ").str(image_error);
            boot::print_error(line);
            ok = false;
        } else if (!fit.ok) {
            vmx::FixedText<400> line;
            line.str("METRONOME-ERROR ");
            vmx::describe_misfit(*loaded.config, fit, free.pages, free.largest, line);
            boot::print_error(line);
            ok = false;
        } else if (can_run) {
            ok = boot::run_hypervisor(*loaded.config, facts);
        } else {
            // Guests were asked for on a CPU that cannot run them: say exactly why, before
            // anything of VMX is touched.
            vmx::FixedText<1024> line;
            line.str("METRONOME-ERROR ");
            vmx::describe_cpu_refusal(capabilities, line);
            boot::print_error(line);
        }
        boot::release_kernel_files();
        boot::release_guest_images();
    }
    boot::print_line("METRONOME-END");
    boot::finish_output();
    if (loaded.ok && loaded.config->on_finish == vmx::OnFinish::shutdown) boot::shut_down();
    // Back to the firmware: on a real machine its boot manager tries the next boot option when
    // this one reports failure, which is right when this CPU cannot run Metronome.
    return ok ? EFI_SUCCESS : EFI_UNSUPPORTED;
}
