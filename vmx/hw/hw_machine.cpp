#include "vmx/hw/hw_machine.hpp"

#include "vmx/hw/cpu.hpp"
#include "vmx/hw/cpu_state.hpp"
#include "vmx/hw/debug_break.hpp"
#include "vmx/hw/interrupt_masks.hpp"
#include "vmx/hw/vmx_instructions.hpp"
#include "vmx/lib/little_endian.hpp"
#include "vmx/arch/msr.hpp"

namespace vmx::hw {
namespace {


void load_msrs(const HwGuest& g, bool rdtscp) {
    wrmsr(msr::ia32_kernel_gs_base, g.kernel_gs_base);
    wrmsr(msr::ia32_star, g.star);
    wrmsr(msr::ia32_lstar, g.lstar);
    wrmsr(msr::ia32_cstar, g.cstar);
    wrmsr(msr::ia32_fmask, g.fmask);
    if (rdtscp) wrmsr(msr::ia32_tsc_aux, g.tsc_aux);
}

void save_msrs(HwGuest& g, bool rdtscp) {
    g.kernel_gs_base = rdmsr(msr::ia32_kernel_gs_base);
    g.star = rdmsr(msr::ia32_star);
    g.lstar = rdmsr(msr::ia32_lstar);
    g.cstar = rdmsr(msr::ia32_cstar);
    g.fmask = rdmsr(msr::ia32_fmask);
    if (rdtscp) g.tsc_aux = rdmsr(msr::ia32_tsc_aux);
}

void load_debug(const HwGuest& g) {
    write_dr0(g.dr[0]);
    write_dr1(g.dr[1]);
    write_dr2(g.dr[2]);
    write_dr3(g.dr[3]);
    write_dr6(g.dr6);
}

void save_debug(HwGuest& g) {
    g.dr[0] = read_dr0();
    g.dr[1] = read_dr1();
    g.dr[2] = read_dr2();
    g.dr[3] = read_dr3();
    g.dr6 = read_dr6();
}

} // namespace

void HwMachine::init(HwGuest* guests, std::size_t count, std::uint64_t xsave_mask, bool has_rdtscp, ConsoleSink sink,
                     void (*background)()) {
    background_ = background;
    guests_ = guests;
    count_ = count;
    xsave_mask_ = xsave_mask;
    rdtscp_ = has_rdtscp;
    sink_ = sink;
}

// The legacy region's FCW (offset 0) = 0x037F and MXCSR (offset 24) = 0x1F80 are the reset
// values; with XSTATE_BV = 0 in the XSAVE header every component is loaded in its initial
// configuration (SDM "XRSTOR": "init optimization"), so a guest starts with clean registers.
void HwMachine::init_extended_state(std::uint8_t* area) {
    store_le(area, 0x037f, 2);
    store_le(area + 24, 0x1f80, 4);
}

void HwMachine::save_extended(std::uint8_t* area) {
    if (xsave_mask_ != 0) {
        // Saved and restored with the full mask, whatever the guest's XCR0: components it has
        // disabled still hold its own (initial) values, and never another guest's.
        xsetbv0(xsave_mask_);
        xsave(area, xsave_mask_);
    } else {
        fxsave(area);
    }
}

void HwMachine::load_extended(const std::uint8_t* area, std::uint64_t guest_xcr0) {
    if (xsave_mask_ != 0) {
        xsetbv0(xsave_mask_);
        xrstor(area, xsave_mask_);
        xsetbv0(guest_xcr0);
    } else {
        fxrstor(area);
    }
}

void HwMachine::save_host(HostSavedState& host, std::uint8_t* area) {
    host.kernel_gs_base = rdmsr(msr::ia32_kernel_gs_base);
    host.star = rdmsr(msr::ia32_star);
    host.lstar = rdmsr(msr::ia32_lstar);
    host.cstar = rdmsr(msr::ia32_cstar);
    host.fmask = rdmsr(msr::ia32_fmask);
    host.tsc_aux = rdtscp_ ? rdmsr(msr::ia32_tsc_aux) : 0;
    host.dr[0] = read_dr0();
    host.dr[1] = read_dr1();
    host.dr[2] = read_dr2();
    host.dr[3] = read_dr3();
    host.dr6 = read_dr6();
    host.dr7 = read_dr7();
    asm volatile("mov %%cr2, %0" : "=r"(host.cr2));
    save_extended(area);
}

void HwMachine::restore_host(const HostSavedState& host, const std::uint8_t* area, GuestContext* current) {
    if (current != nullptr && current->index < count_) {
        HwGuest& g = guests_[current->index];
        save_extended(g.extended_state);
    }
    load_extended(area, xsave_mask_);
    wrmsr(msr::ia32_kernel_gs_base, host.kernel_gs_base);
    wrmsr(msr::ia32_star, host.star);
    wrmsr(msr::ia32_lstar, host.lstar);
    wrmsr(msr::ia32_cstar, host.cstar);
    wrmsr(msr::ia32_fmask, host.fmask);
    if (rdtscp_) wrmsr(msr::ia32_tsc_aux, host.tsc_aux);
    write_dr0(host.dr[0]);
    write_dr1(host.dr[1]);
    write_dr2(host.dr[2]);
    write_dr3(host.dr[3]);
    write_dr6(host.dr6);
    write_dr7(host.dr7);
    asm volatile("mov %0, %%cr2" : : "r"(host.cr2));
}

std::uint64_t HwMachine::rdtsc() { return hw::rdtsc(); }

bool HwMachine::switch_guest(GuestContext* previous, GuestContext& next) {
    if (next.index >= count_) return false;
    if (previous != nullptr && previous->index < count_) {
        HwGuest& p = guests_[previous->index];
        save_extended(p.extended_state);
        save_msrs(p, rdtscp_);
        save_debug(p);
    }
    HwGuest& n = guests_[next.index];
    if (vmptrld(n.vmcs_physical) != VmxStatus::ok) return false;
    load_extended(n.extended_state, next.xcr0);
    load_msrs(n, rdtscp_);
    load_debug(n);
    return true;
}

EntryResult HwMachine::enter(GuestContext& guest, bool launched) {
    if (background_ != nullptr) background_();
    // A trapped XSETBV changed the guest's XCR0; XCR0 is not part of the VMCS.
    if (xsave_mask_ != 0 && xgetbv0() != guest.xcr0) xsetbv0(guest.xcr0);
    // `tools/metronome debug`: a Bochs magic breakpoint before the chosen guest's VMLAUNCH.
    if (!launched && guest.index < count_)
        debug_break_before_launch(guest, guests_[guest.index].vmcs_physical);
    const int rc = metronome_vm_enter(&guest.regs, launched ? 1 : 0);
    EntryResult r;
    if (rc == 0) {
        r.exited = true;
    } else if (rc == 1) {
        r.fail_invalid = true;
    } else {
        std::uint64_t error = 0;
        vmread(field_encoding(Field::vm_instruction_error), &error);
        r.vm_instruction_error = static_cast<std::uint32_t>(error);
    }
    return r;
}

void HwMachine::idle_until(std::uint64_t tsc) {
    if (idle_ != nullptr) {
        idle_->idle_until(tsc, background_);
        return;
    }
    while (hw::rdtsc() < tsc) {
        if (background_ != nullptr) background_();
        pause();
    }
}

bool HwMachine::read(Field field, std::uint64_t* value) {
    if (vmread(field_encoding(field), value) == VmxStatus::ok) return true;
    std::uint64_t error = 0;
    vmread(field_encoding(Field::vm_instruction_error), &error);
    last_error_ = static_cast<std::uint32_t>(error);
    ++failed_accesses_;
    *value = 0;
    return false;
}

bool HwMachine::write(Field field, std::uint64_t value) {
    if (vmwrite(field_encoding(field), value) == VmxStatus::ok) return true;
    std::uint64_t error = 0;
    vmread(field_encoding(Field::vm_instruction_error), &error);
    last_error_ = static_cast<std::uint32_t>(error);
    ++failed_accesses_;
    return false;
}

void HwMachine::cpuid(std::uint32_t leaf, std::uint32_t subleaf, std::uint32_t out[4]) {
    const CpuidResult r = hw::cpuid(leaf, subleaf);
    out[0] = r.eax;
    out[1] = r.ebx;
    out[2] = r.ecx;
    out[3] = r.edx;
}

bool HwMachine::console_line(const GuestContext& guest, const char* line) {
    return sink_ == nullptr || sink_(guest.index, guest.name, line);
}

void HwMachine::end_of_interrupt(std::uint8_t) { InterruptMasks::end_of_interrupt(); }

} // namespace vmx::hw
