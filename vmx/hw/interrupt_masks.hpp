// While guests run, the firmware's interrupt sources are masked at their controllers (the 8259
// PICs and the local APIC's timer), so no firmware interrupt can livelock a guest or reach a
// guest's IDT (README, "Architecture"). Anything that still arrives exits ("external-interrupt
// exiting" with "acknowledge interrupt on exit") and is ended here. restore() puts every mask
// back as the firmware had it.
#pragma once
#include <cstdint>

namespace vmx::hw {

class InterruptMasks {
  public:
    // `pic`: the 8259 PICs too (the boot CPU only: they are one pair for the whole machine).
    void mask_all(bool pic);
    void restore();
    static void end_of_interrupt();

  private:
    bool masked_ = false, pic_masked_ = false;
    std::uint8_t pic_master_ = 0, pic_slave_ = 0;
    bool apic_mmio_ = false, apic_x2_ = false;
    std::uint64_t apic_base_ = 0;
    std::uint32_t lvt_timer_ = 0;
};

} // namespace vmx::hw
