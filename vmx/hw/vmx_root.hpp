// Entering and leaving VMX root operation (SDM "Enabling and Entering VMX Operation", "Leaving
// VMX Operation"), and the host's own GDT with a TSS (VM entry requires a non-null host TR; the
// firmware runs with TR = 0). Every step is undone in reverse order by leave(), and by enter()
// itself when a later step fails, so the machine is never left in VMX operation on an error.
#pragma once
#include <cstdint>

#include "vmx/caps/caps.hpp"
#include "vmx/hw/cpu_state.hpp"
#include "vmx/lib/text.hpp"

namespace vmx::hw {

class VmxRoot {
  public:
    // `vmxon_page` and `gdt_page`: zeroed, 4 KiB-aligned, identity-mapped pages.
    // `test_fail_vmxon` (test only): a wrong revision identifier makes VMXON itself fail.
    bool enter(const VmxCaps& caps, void* vmxon_page, void* gdt_page, Text& error,
               bool test_fail_vmxon = false);
    // VMXOFF, then CR4/CR0 and the firmware's GDT back. Safe to call when not in VMX operation.
    bool leave(Text& error);

    bool active() const { return vmx_on_; }
    std::uint16_t host_tr() const { return host_tr_; }
    std::uint64_t host_tr_base() const { return tss_base_; }
    std::uint64_t host_gdtr_base() const { return gdtr_base_; }
    // IA32_FEATURE_CONTROL as found and what Metronome did about it, in words.
    const char* feature_control_words() const { return feature_control_words_; }

  private:
    bool install_host_gdt(void* gdt_page, Text& error);
    void restore_firmware_gdt();

    bool vmx_on_ = false;
    bool cr_changed_ = false;
    bool gdt_changed_ = false;
    std::uint64_t saved_cr0_ = 0, saved_cr4_ = 0;
    DescriptorTablePointer firmware_gdt_{};
    std::uint16_t host_tr_ = 0;
    std::uint64_t tss_base_ = 0, gdtr_base_ = 0;
    const char* feature_control_words_ = "";
};

} // namespace vmx::hw
