// The hypervisor run, from the firmware's side: calibrate the TSC, hand out memory, raise the
// TPL so the firmware's interrupts stay off, run the session (vmx/hw/session.hpp), and print
// the report. Returns false when the run could not start; the error line was printed.
#pragma once
#include "vmx/caps/capability_report.hpp"
#include "vmx/config/config.hpp"

namespace boot {

bool run_hypervisor(const vmx::Config& config, const vmx::CpuFacts& facts);

} // namespace boot
