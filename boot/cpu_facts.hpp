// Reads what the capability report needs from the CPU this image runs on: CPUID, and the VMX
// MSRs only when CPUID says they exist. The decisions about which MSRs exist are in the pure
// core (vmx/caps/caps_read.hpp, vmx/caps/capability_report.hpp); this is only the hardware side.
#pragma once
#include "vmx/caps/capability_report.hpp"

namespace boot {

vmx::CpuFacts read_cpu_facts();

} // namespace boot
