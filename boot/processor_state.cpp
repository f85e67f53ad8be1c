#include "boot/processor_state.hpp"

#include "vmx/hw/cpu.hpp"
#include "vmx/hw/cpu_state.hpp"
#include "vmx/hw/port_io.hpp"
#include "vmx/arch/msr.hpp"

namespace boot {
namespace {

constexpr std::uint64_t cr4_osxsave = 1u << 18;

void compare(vmx::Text& out, bool& changed, const char* name, std::uint64_t before, std::uint64_t after) {
    if (before == after) return;
    out.str(changed ? ", " : "changed: ").str(name).chr(' ').hex(before).str(" -> ").hex(after);
    changed = true;
}

} // namespace

ProcessorState read_processor_state(bool pic) {
    ProcessorState s;
    s.cr0 = vmx::hw::read_cr0();
    s.cr4 = vmx::hw::read_cr4();
    s.efer = vmx::hw::rdmsr(vmx::msr::ia32_efer);
    s.xcr0 = (s.cr4 & cr4_osxsave) != 0 ? vmx::hw::xgetbv0() : 0;
    const auto gdtr = vmx::hw::sgdt();
    const auto idtr = vmx::hw::sidt();
    s.gdtr_base = gdtr.base;
    s.gdtr_limit = gdtr.limit;
    s.idtr_base = idtr.base;
    s.idtr_limit = idtr.limit;
    s.gs_base = vmx::hw::rdmsr(vmx::msr::ia32_gs_base);
    if (pic) {
        s.pic_master_mask = vmx::hw::inb(0x21);
        s.pic_slave_mask = vmx::hw::inb(0xa1);
    }
    const std::uint64_t apic = vmx::hw::rdmsr(vmx::msr::ia32_apic_base);
    if ((apic & (1u << 11)) != 0 && (apic & (1u << 10)) == 0) {
        s.lapic_lvt_timer = *reinterpret_cast<volatile std::uint32_t*>((apic & 0xffffff000ull) + 0x320);
    }
    return s;
}

bool describe_state_change(const ProcessorState& before, const ProcessorState& after, vmx::Text& out) {
    bool changed = false;
    compare(out, changed, "CR0", before.cr0, after.cr0);
    compare(out, changed, "CR4", before.cr4, after.cr4);
    compare(out, changed, "EFER", before.efer, after.efer);
    compare(out, changed, "XCR0", before.xcr0, after.xcr0);
    compare(out, changed, "GDTR base", before.gdtr_base, after.gdtr_base);
    compare(out, changed, "GDTR limit", before.gdtr_limit, after.gdtr_limit);
    compare(out, changed, "IDTR base", before.idtr_base, after.idtr_base);
    compare(out, changed, "IDTR limit", before.idtr_limit, after.idtr_limit);
    compare(out, changed, "GS base", before.gs_base, after.gs_base);
    compare(out, changed, "PIC master mask", before.pic_master_mask, after.pic_master_mask);
    compare(out, changed, "PIC slave mask", before.pic_slave_mask, after.pic_slave_mask);
    compare(out, changed, "LAPIC LVT timer", before.lapic_lvt_timer, after.lapic_lvt_timer);
    if (!changed) out.str("unchanged (CR0, CR4, EFER, XCR0, GDTR, IDTR, GS base, PIC masks, LAPIC LVT timer)");
    return !changed;
}

} // namespace boot
