// metronome.efi's entry point. For now it checks the CPU and reports what it found; the
// hypervisor proper (VMXON, guests, the schedule) will run between the report and the end.
//
// Output contract with the host tool (tools/metronome_tool): the line `METRONOME-CAPS {json}`
// carries the capability facts, and `METRONOME-END` is the last line of every run.
#include "boot/console.hpp"
#include "boot/cpu_facts.hpp"
#include "boot/efi.hpp"
#include "boot/finish.hpp"
#include "boot/run_options.hpp"
#include "vmx/capability_report.hpp"
#include "vmx/text.hpp"

#ifndef METRONOME_VERSION
#define METRONOME_VERSION "0.0.0-unknown"
#endif

namespace boot {

Firmware firmware;

namespace {

void report_run_options(const RunOptions& options) {
    vmx::FixedText<160> line;
    line.str("Configuration: \\metronome.cfg ");
    if (options.config_file_found) {
        line.str("read (").dec(options.config_file_size).str(" bytes)");
    } else if (options.config_file_size > 0) {
        line.str("too large (over ").dec(options.config_file_size).str(" bytes): ignored");
    } else {
        line.str("not found");
    }
    line.str("; on_finish = ");
    line.str(options.on_finish == vmx::OnFinish::shutdown ? "shutdown" : "return_to_firmware");
    line.str(" (").str(options.on_finish_source).chr(')');
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
        print_line("METRONOME-ERROR capability JSON did not fit its buffer");
    else
        print_line(json);
}

} // namespace

} // namespace boot

extern "C" EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE* system_table);

// Called by gnu-efi's crt0 after it applied the image's relocations, with the SysV convention.
extern "C" EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE* system_table) {
    boot::firmware.image = image;
    boot::firmware.system_table = system_table;
    // The boot manager arms a 5-minute watchdog before starting a boot option; a long run (and
    // anything in Bochs is long) must not be reset in the middle.
    boot::efi_call(system_table->BootServices->SetWatchdogTimer, UINTN{0}, UINT64{0}, UINTN{0},
                   static_cast<CHAR16*>(nullptr));

    boot::print_line("");
    boot::print_line("Metronome " METRONOME_VERSION
                     " \u2014 fixed time slices by the VMX preemption timer");
    const boot::RunOptions options = boot::read_run_options();
    boot::report_run_options(options);

    const vmx::CpuFacts facts = boot::read_cpu_facts();
    boot::report_capabilities(facts);
    const bool can_run = vmx::assess_capabilities(facts).can_run();

    boot::print_line("METRONOME-END");
    if (options.on_finish == vmx::OnFinish::shutdown) boot::shut_down();
    // Back to the firmware: on a real machine its boot manager tries the next boot option when
    // this one reports failure, which is right when this CPU cannot run Metronome.
    return can_run ? EFI_SUCCESS : EFI_UNSUPPORTED;
}
