#include "vmx/hw/vmx_root.hpp"

#include "vmx/arch/control_registers.hpp"
#include "vmx/caps/feature_control.hpp"
#include "vmx/hw/cpu.hpp"
#include "vmx/hw/vmx_instructions.hpp"
#include "vmx/lib/little_endian.hpp"
#include "vmx/arch/msr.hpp"
#include "vmx/arch/segments.hpp"

namespace vmx::hw {
namespace {

constexpr std::uint64_t cr4_vmxe = 1u << 13;
constexpr std::uint32_t tss_size = 104;

void copy_bytes(std::uint8_t* to, const std::uint8_t* from, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) to[i] = from[i];
}


} // namespace

// The firmware's GDT is copied into our page and a 64-bit TSS descriptor appended; the copy
// keeps every selector the firmware uses valid (CS, DS, ... stay as they are).
bool VmxRoot::install_host_gdt(void* gdt_page, Text& error) {
    auto* page = static_cast<std::uint8_t*>(gdt_page);
    firmware_gdt_ = sgdt();
    const std::uint32_t old_size = static_cast<std::uint32_t>(firmware_gdt_.limit) + 1;
    const std::uint32_t tr_offset = (old_size + 7u) & ~7u;
    const std::uint32_t tss_offset = 4096 - 128;
    if (tr_offset + 16 > tss_offset) {
        error.str("the firmware's GDT (").dec(old_size).str(" bytes) leaves no room for a TSS descriptor");
        return false;
    }
    copy_bytes(page, reinterpret_cast<const std::uint8_t*>(firmware_gdt_.base), old_size);
    tss_base_ = reinterpret_cast<std::uint64_t>(page + tss_offset);
    // No I/O permission bitmap: the offset points past the TSS limit.
    page[tss_offset + 0x66] = static_cast<std::uint8_t>(tss_size);
    store_le(page + tr_offset, tss64_descriptor_low(tss_base_, tss_size - 1), 8);
    store_le(page + tr_offset + 8, tss64_descriptor_high(tss_base_), 8);
    const DescriptorTablePointer ours{static_cast<std::uint16_t>(tr_offset + 15), reinterpret_cast<std::uint64_t>(page)};
    lgdt(ours);
    ltr(static_cast<std::uint16_t>(tr_offset));
    gdtr_base_ = ours.base;
    host_tr_ = static_cast<std::uint16_t>(tr_offset);
    gdt_changed_ = true;
    return true;
}

// TR keeps pointing at our TSS descriptor: LTR cannot load a null selector, and nothing in the
// firmware's ring-0-only world reads TR again. The page stays allocated for that reason.
void VmxRoot::restore_firmware_gdt() {
    if (!gdt_changed_) return;
    lgdt(firmware_gdt_);
    gdt_changed_ = false;
}

bool VmxRoot::enter(const VmxCaps& caps, void* vmxon_page, void* gdt_page, Text& error,
                    bool test_fail_vmxon) {
    const FeatureControlDecision fc = decide_feature_control(rdmsr(msr::ia32_feature_control));
    feature_control_words_ = fc.words;
    if (fc.action == FeatureControlAction::locked_off) {
        error.str("IA32_FEATURE_CONTROL: ").str(fc.words);
        return false;
    }
    if (fc.action == FeatureControlAction::lock_enable) wrmsr(msr::ia32_feature_control, fc.value);

    saved_cr0_ = read_cr0();
    saved_cr4_ = read_cr4();
    const std::uint64_t cr0 = adjust_cr0(saved_cr0_, caps, false);
    const std::uint64_t cr4 = adjust_cr4(saved_cr4_ | cr4_vmxe, caps);
    write_cr0(cr0);
    write_cr4(cr4);
    cr_changed_ = true;

    // The VMXON region starts with the VMCS revision identifier (SDM "VMXON Region").
    *static_cast<std::uint32_t*>(vmxon_page) = caps.vmcs_revision() ^ (test_fail_vmxon ? 1u : 0u);
    const VmxStatus status = vmxon(reinterpret_cast<std::uint64_t>(vmxon_page));
    if (status != VmxStatus::ok) {
        error.str("VMXON failed: ").str(status == VmxStatus::fail_invalid ? "VMfailInvalid (bad VMXON region or revision)"
                                                                          : "VMfailValid (already in VMX operation)");
        leave(error);
        return false;
    }
    vmx_on_ = true;
    if (!install_host_gdt(gdt_page, error)) {
        leave(error);
        return false;
    }
    return true;
}

bool VmxRoot::leave(Text& error) {
    bool ok = true;
    if (vmx_on_) {
        if (vmxoff() != VmxStatus::ok) {
            error.str("VMXOFF failed");
            ok = false;
        } else {
            vmx_on_ = false;
        }
    }
    restore_firmware_gdt();
    if (cr_changed_ && !vmx_on_) {
        write_cr4(saved_cr4_);
        write_cr0(saved_cr0_);
        cr_changed_ = false;
    }
    return ok;
}

} // namespace vmx::hw
