// What the firmware would notice if Metronome left it changed: control registers, EFER, the
// descriptor tables, GS base, XCR0, and the interrupt controllers' masks. Read before and after every
// hypervisor session and compared, so each run proves (or reports) that the machine went back
// to the firmware as it came. TR is left out on purpose: it keeps naming Metronome's TSS after
// VMXOFF (LTR cannot load a null selector; vmx/hw/vmx_root.cpp).
#pragma once
#include <cstdint>

#include "vmx/lib/text.hpp"

namespace boot {

struct ProcessorState {
    std::uint64_t cr0 = 0, cr4 = 0, efer = 0, xcr0 = 0;
    std::uint64_t gdtr_base = 0, idtr_base = 0, gs_base = 0;
    std::uint16_t gdtr_limit = 0, idtr_limit = 0;
    std::uint8_t pic_master_mask = 0, pic_slave_mask = 0;
    std::uint32_t lapic_lvt_timer = 0;  // 0 when the local APIC is off or in x2APIC mode
};

// `pic`: the 8259 masks too (the boot CPU's check; on another CPU they are the boot CPU's
// business and read as 0).
ProcessorState read_processor_state(bool pic = true);

// "unchanged (...)" or "changed: CR4 0x... -> 0x..., ..." in one line.
bool describe_state_change(const ProcessorState& before, const ProcessorState& after, vmx::Text& out);

} // namespace boot
