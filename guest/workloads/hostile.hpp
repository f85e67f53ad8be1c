// The hostile workloads: guests that try to escape their memory, use the hypervisor's
// instructions, registers and ports, halt for good, fault forever, look for other guests'
// register contents and storm the hypervisor with exits. Each prints what it saw in lines that
// start with its workload name; tests/e2e/hostile_test.py checks them and the report
// (guest/ABI.md). Workload names: escape, vmxprobe, privprobe, portsweep, clihlt, faultloop,
// leakprobe, storm, tfhlt.
#pragma once
#include "workloads/workloads.hpp"

namespace workloads {

// A page of the guest's free low memory (guest/ABI.md section 1: 0x7000-0xFFFF is zero and the
// guest's) for buffers, so that they do not grow the image (.bss counts against its 64 KiB).
// escape uses 0x8000 for a page directory; each guest runs one workload.
inline constexpr std::uint64_t scratch_page_gpa = 0x9000;
inline constexpr std::size_t scratch_page_size = 4096;
inline std::uint8_t* scratch_page() {
    return reinterpret_cast<std::uint8_t*>(scratch_page_gpa);
}

void hostile_memory(const StartInfo& info); // param: which access (see hostile_memory.cpp)
void hostile_vmx(const StartInfo& info);
void hostile_msr(const StartInfo& info);
void hostile_io(const StartInfo& info);
void hostile_halt(const StartInfo& info);
void hostile_step_halt(const StartInfo& info); // param: 0 `sti; hlt`, 1 `sti; nop; hlt`
void hostile_fault(const StartInfo& info); // param: 0 #PF loop, 1 #DF loop, 2 triple fault
void hostile_regs(const StartInfo& info);  // param: this guest's secret
void hostile_storm(const StartInfo& info); // param: which exit

} // namespace workloads
