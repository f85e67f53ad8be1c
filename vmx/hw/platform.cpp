// The platform seam of the pure core on the real processor (vmx/run/platform.hpp): the host's
// state around a run, entering a guest through vm_entry.S, idling, the console sink, and the
// record of failed VMREAD/VMWRITE. Making a guest current and the background work between slices
// are inline, in vmx/hw/guest_switch.hpp, so that the slice switch compiles them into itself.
// Target only.
#include "vmx/arch/msr.hpp"
#include "vmx/hw/cpu.hpp"
#include "vmx/hw/cpu_block.hpp"
#include "vmx/hw/cpu_state.hpp"
#include "vmx/hw/guest_switch.hpp"
#include "vmx/hw/debug_break.hpp"
#include "vmx/hw/interrupt_masks.hpp"
#include "vmx/hw/vmx_instructions.hpp"
#include "vmx/lib/little_endian.hpp"
#include "vmx/run/platform.hpp"
#include "vmx/vmcs/vmcs_access.hpp"

namespace vmx::hw {
namespace {


} // namespace

// The legacy region's FCW (offset 0) = 0x037F and MXCSR (offset 24) = 0x1F80 are the reset
// values; with XSTATE_BV = 0 in the XSAVE header every component is loaded in its initial
// configuration (SDM "XRSTOR": "init optimization"), so a guest starts with clean registers.
void init_extended_state(std::uint8_t* area) {
    store_le(area, 0x037f, 2);
    store_le(area + 24, 0x1f80, 4);
}

void save_host_state(CpuBlock& cpu) {
    HostSavedState& host = cpu.host;
    host.msrs.kernel_gs_base = rdmsr(msr::ia32_kernel_gs_base);
    host.msrs.star = rdmsr(msr::ia32_star);
    host.msrs.lstar = rdmsr(msr::ia32_lstar);
    host.msrs.cstar = rdmsr(msr::ia32_cstar);
    host.msrs.fmask = rdmsr(msr::ia32_fmask);
    host.msrs.tsc_aux = cpu.rdtscp ? rdmsr(msr::ia32_tsc_aux) : 0;
    cpu.msrs_in_cpu = host.msrs;
    cpu.syscall_msrs_zero = syscall_msrs_zero(host.msrs);
    host.dr[0] = read_dr0();
    host.dr[1] = read_dr1();
    host.dr[2] = read_dr2();
    host.dr[3] = read_dr3();
    host.dr6 = read_dr6();
    host.dr7 = read_dr7();
    asm volatile("mov %%cr2, %0" : "=r"(host.cr2));
    save_extended(cpu, cpu.host_extended_state, 0);
}

void restore_host_state(CpuBlock& cpu, Vcpu* current) {
    if (current != nullptr) save_extended(cpu, current->extended_state, current->xcr0);
    load_extended(cpu, cpu.host_extended_state, cpu.xsave_mask);
    const HostSavedState& host = cpu.host;
    read_back_kernel_gs_base(cpu);
    load_msrs(cpu, host.msrs);
    cpu.syscall_msrs_zero = syscall_msrs_zero(host.msrs);
    write_dr0(host.dr[0]);
    write_dr1(host.dr[1]);
    write_dr2(host.dr[2]);
    write_dr3(host.dr[3]);
    write_dr6(host.dr6);
    write_dr7(host.dr7);
    asm volatile("mov %0, %%cr2" : : "r"(host.cr2));
}

} // namespace vmx::hw

namespace vmx::vmcs {

void note_failure(std::uint32_t) {
    hw::CpuBlock& cpu = hw::this_cpu();
    std::uint64_t error = 0;
    hw::vmread(field_encoding(Field::vm_instruction_error), &error);
    cpu.last_instruction_error = static_cast<std::uint32_t>(error);
    ++cpu.failed_accesses;
}

} // namespace vmx::vmcs

namespace vmx::platform {

EntryResult enter(Vcpu& guest) {
    // `tools/metronome debug`: a Bochs magic breakpoint before the chosen guest's VMLAUNCH.
    if (!guest.launched) hw::debug_break_before_launch(guest);
    const VmEnterResult entered = metronome_vm_enter(&guest, guest.launched ? 1 : 0);
    const std::int64_t rc = entered.rc;
    EntryResult r;
    r.guest = entered.guest;
    if (rc == 0) {
        r.exited = true;
    } else if (rc == 1) {
        r.fail_invalid = true;
    } else {
        std::uint64_t error = 0;
        hw::vmread(field_encoding(Field::vm_instruction_error), &error);
        r.vm_instruction_error = static_cast<std::uint32_t>(error);
    }
    return r;
}

void idle_until(std::uint64_t tsc) {
    hw::CpuBlock& cpu = hw::this_cpu();
    cpu.idle.idle_until(tsc, cpu.background);
}

int console_input() {
    hw::CpuBlock& cpu = hw::this_cpu();
    return cpu.console_input != nullptr ? cpu.console_input() : -1;
}

void end_of_interrupt() { hw::InterruptMasks::end_of_interrupt(); }

bool write_switched_msr(std::uint32_t index, std::uint64_t value) {
    hw::CpuBlock& cpu = hw::this_cpu();
    if (index == msr::ia32_tsc_aux && !cpu.rdtscp) return false;
    hw::wrmsr(index, value);
    if (std::uint64_t* slot = syscall_msr_slot(cpu.msrs_in_cpu, index)) *slot = value;
    if (value != 0) cpu.syscall_msrs_zero = false;
    return true;
}

void load_xcr0(std::uint64_t value) {
    if (hw::this_cpu().xsave_mask != 0) hw::xsetbv0(value);
}

bool console_line(const Vcpu& guest, const char* line, bool complete) {
    const hw::CpuBlock& cpu = hw::this_cpu();
    return cpu.console == nullptr || cpu.console(guest.guest_number, guest.name, line, complete);
}

} // namespace vmx::platform
