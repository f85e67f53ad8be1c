#include "vmx/hw/interrupt_masks.hpp"

#include "vmx/hw/cpu.hpp"
#include "vmx/hw/port_io.hpp"
#include "vmx/arch/msr.hpp"

namespace vmx::hw {
namespace {

constexpr std::uint16_t pic_master_data = 0x21, pic_slave_data = 0xa1;
constexpr std::uint16_t pic_master_command = 0x20, pic_slave_command = 0xa0;
constexpr std::uint32_t lvt_timer_offset = 0x320, eoi_offset = 0x0b0;
constexpr std::uint32_t x2apic_lvt_timer = 0x832, x2apic_eoi = 0x80b;
constexpr std::uint32_t lvt_masked = 1u << 16;

volatile std::uint32_t* apic_register(std::uint64_t base, std::uint32_t offset) {
    return reinterpret_cast<volatile std::uint32_t*>(base + offset);
}

} // namespace

void InterruptMasks::mask_all(bool pic) {
    if (masked_) return;
    pic_masked_ = pic;
    if (pic) {
        pic_master_ = inb(pic_master_data);
        pic_slave_ = inb(pic_slave_data);
        outb(pic_master_data, 0xff);
        outb(pic_slave_data, 0xff);
    }
    // IA32_APIC_BASE: bit 11 enables the APIC, bit 10 selects x2APIC (MSR) mode.
    const std::uint64_t apic = rdmsr(msr::ia32_apic_base);
    apic_x2_ = (apic & (1u << 11)) != 0 && (apic & (1u << 10)) != 0;
    apic_mmio_ = (apic & (1u << 11)) != 0 && !apic_x2_;
    apic_base_ = apic & 0xffffff000ull;
    if (apic_x2_) {
        lvt_timer_ = static_cast<std::uint32_t>(rdmsr(x2apic_lvt_timer));
        wrmsr(x2apic_lvt_timer, lvt_timer_ | lvt_masked);
    } else if (apic_mmio_) {
        lvt_timer_ = *apic_register(apic_base_, lvt_timer_offset);
        *apic_register(apic_base_, lvt_timer_offset) = lvt_timer_ | lvt_masked;
    }
    masked_ = true;
}

void InterruptMasks::restore() {
    if (!masked_) return;
    if (apic_x2_) {
        wrmsr(x2apic_lvt_timer, lvt_timer_);
    } else if (apic_mmio_) {
        *apic_register(apic_base_, lvt_timer_offset) = lvt_timer_;
    }
    if (pic_masked_) {
        outb(pic_slave_data, pic_slave_);
        outb(pic_master_data, pic_master_);
    }
    masked_ = pic_masked_ = false;
}

// The vector alone does not say which controller delivered it; a non-specific EOI to a
// controller with nothing in service is a no-op, so both are told.
void InterruptMasks::end_of_interrupt() {
    const std::uint64_t apic = rdmsr(msr::ia32_apic_base);
    if ((apic & (1u << 11)) != 0) {
        if ((apic & (1u << 10)) != 0) {
            wrmsr(x2apic_eoi, 0);
        } else {
            *apic_register(apic & 0xffffff000ull, eoi_offset) = 0;
        }
    }
    outb(pic_slave_command, 0x20);
    outb(pic_master_command, 0x20);
}

} // namespace vmx::hw
