#include "vmx/devices/lapic.hpp"

#include "vmx/arch/msr.hpp"

namespace vmx {
namespace {

// x2APIC MSRs (SDM "x2APIC Register Address Space": MSR 0x800 + the xAPIC offset / 16).
enum : std::uint32_t {
    reg_id = 0x802,
    reg_version = 0x803,
    reg_tpr = 0x808,
    reg_ppr = 0x80a,
    reg_eoi = 0x80b,
    reg_ldr = 0x80d,
    reg_svr = 0x80f,
    reg_isr0 = 0x810,
    reg_tmr0 = 0x818,
    reg_irr0 = 0x820,
    reg_esr = 0x828,
    reg_icr = 0x830,
    reg_lvt_timer = 0x832,
    reg_lvt_thermal = 0x833,
    reg_lvt_perf = 0x834,
    reg_lvt_lint0 = 0x835,
    reg_lvt_lint1 = 0x836,
    reg_lvt_error = 0x837,
    reg_tmict = 0x838,
    reg_tmcct = 0x839,
    reg_tdcr = 0x83e,
    reg_self_ipi = 0x83f,
};

// An integrated APIC (version 0x14) with six LVT entries (timer, thermal, performance, LINT0,
// LINT1, error): bits 23:16 hold their number minus one.
constexpr std::uint32_t version_value = 0x14u | (5u << 16);

// Writable bits of the LVT entries (SDM "Local Vector Table"): vector, delivery mode, polarity,
// trigger mode, mask, and for the timer its mode.
constexpr std::uint32_t lvt_timer_bits = 0xffu | x2apic::lvt_masked | (3u << 17);
constexpr std::uint32_t lvt_lint_bits = 0xffu | (7u << 8) | (1u << 13) | (1u << 15) | x2apic::lvt_masked;
constexpr std::uint32_t lvt_simple_bits = 0xffu | (7u << 8) | x2apic::lvt_masked;
constexpr std::uint32_t lvt_error_bits = 0xffu | x2apic::lvt_masked;
constexpr std::uint32_t delivery_extint = 7u << 8;

// ICR (SDM "Interrupt Command Register"): delivery mode 10:8 (0 fixed), shorthand 19:18.
constexpr std::uint32_t shorthand_self = 1, shorthand_all_including_self = 2;

} // namespace

int Lapic::highest(const std::uint32_t* bits) {
    for (int word = 7; word >= 0; --word) {
        const std::uint32_t w = bits[word];
        if (w != 0) return word * 32 + (31 - __builtin_clz(w));
    }
    return -1;
}

std::uint32_t Lapic::processor_priority() const {
    const int in_service = highest(isr_);
    const std::uint32_t isrv = in_service < 0 ? 0u : static_cast<std::uint32_t>(in_service);
    return (tpr_ & 0xf0u) >= (isrv & 0xf0u) ? (tpr_ & 0xffu) : (isrv & 0xf0u);
}

int Lapic::deliverable() const {
    const int v = highest(irr_);
    if (v < 0 || (static_cast<std::uint32_t>(v) & 0xf0u) <= (processor_priority() & 0xf0u)) return -1;
    return v;
}

void Lapic::request(std::uint8_t vector) {
    if (vector < 16) {
        esr_ |= 1u << 6; // "Received Illegal Vector"
        return;
    }
    set(irr_, vector);
}

void Lapic::accept(std::uint8_t vector) {
    clear(irr_, vector);
    set(isr_, vector);
}

void Lapic::eoi() {
    ++eois;
    const int v = highest(isr_);
    if (v >= 0) clear(isr_, static_cast<std::uint8_t>(v));
}

// ICR (SDM "Interrupt Command Register"): only a fixed interrupt to this processor is delivered
// (there is no other); the rest is counted.
void Lapic::send_ipi(std::uint32_t icr_low, bool to_self) {
    const std::uint32_t vector = icr_low & 0xffu;
    const std::uint32_t mode = icr_low >> 8 & 7u;
    const std::uint32_t shorthand = icr_low >> 18 & 3u;
    if (mode == 0 && (shorthand == shorthand_self || shorthand == shorthand_all_including_self ||
                      (shorthand == 0 && to_self))) {
        ++self_ipis;
        request(static_cast<std::uint8_t>(vector));
    } else {
        ++ipis_dropped;
    }
}

bool Lapic::lint0_extint() const {
    return (lvt_lint0_ & x2apic::lvt_masked) == 0 && (lvt_lint0_ & (7u << 8)) == delivery_extint;
}

// TDCR bits 0, 1 and 3 (SDM "Divide Configuration Register"): 0b111 divides by 1, n by 2^(n+1).
std::uint64_t Lapic::divisor() const {
    const std::uint32_t code = (tdcr_ & 3u) | ((tdcr_ >> 1) & 4u);
    return 1ull << ((code + 1) & 7u);
}

void Lapic::arm_count(std::uint64_t now) {
    count_start_ = now;
    timer_armed_ = tmict_ != 0;
    timer_due_ = now + tmict_ * divisor();
}

void Lapic::write_lvt_timer(std::uint32_t value) {
    const std::uint32_t old_mode = timer_mode();
    lvt_timer_ = value & lvt_timer_bits;
    if (!software_enabled()) lvt_timer_ |= x2apic::lvt_masked;
    if (timer_mode() != old_mode) { // a change of mode disarms the timer
        timer_armed_ = false;
        tsc_deadline_ = 0;
    }
}

bool Lapic::timer_expired(std::uint64_t now) {
    if (!timer_armed_ || now < timer_due_) return false;
    if (timer_mode() == x2apic::timer_periodic && tmict_ != 0) {
        const std::uint64_t period = tmict_ * divisor();
        const std::uint64_t late = now - timer_due_;
        timer_due_ += (late / period + 1) * period; // the periods missed meanwhile coalesce
    } else {
        timer_armed_ = false;
        tsc_deadline_ = 0;
    }
    if ((lvt_timer_ & x2apic::lvt_masked) != 0) return false;
    request(static_cast<std::uint8_t>(lvt_timer_ & 0xffu));
    return true;
}

MsrAccess Lapic::read(std::uint32_t msr, std::uint64_t now, std::uint64_t* value) const {
    if (msr == msr::ia32_tsc_deadline) {
        *value = timer_mode() == x2apic::timer_tsc_deadline ? tsc_deadline_ : 0;
        return MsrAccess::done;
    }
    if (msr >= reg_isr0 && msr < reg_isr0 + 8) {
        *value = isr_[msr - reg_isr0];
        return MsrAccess::done;
    }
    if (msr >= reg_tmr0 && msr < reg_tmr0 + 8) {
        *value = 0; // every interrupt here is edge-triggered
        return MsrAccess::done;
    }
    if (msr >= reg_irr0 && msr < reg_irr0 + 8) {
        *value = irr_[msr - reg_irr0];
        return MsrAccess::done;
    }
    switch (msr) {
    case reg_id: *value = 0; break;
    case reg_version: *value = version_value; break;
    case reg_tpr: *value = tpr_; break;
    case reg_ppr: *value = processor_priority(); break;
    case reg_ldr: *value = 1; break; // x2APIC ID 0: cluster 0, bit 0
    case reg_svr: *value = svr_; break;
    case reg_esr: *value = esr_; break;
    case reg_icr: *value = 0; break;
    case reg_lvt_timer: *value = lvt_timer_; break;
    case reg_lvt_thermal: *value = lvt_thermal_; break;
    case reg_lvt_perf: *value = lvt_perf_; break;
    case reg_lvt_lint0: *value = lvt_lint0_; break;
    case reg_lvt_lint1: *value = lvt_lint1_; break;
    case reg_lvt_error: *value = lvt_error_; break;
    case reg_tmict: *value = tmict_; break;
    case reg_tmcct:
        if (timer_mode() == x2apic::timer_tsc_deadline || !timer_armed_ || now >= timer_due_) {
            *value = 0;
        } else {
            *value = (timer_due_ - now + divisor() - 1) / divisor();
        }
        break;
    case reg_tdcr: *value = tdcr_; break;
    default: return MsrAccess::fault; // reserved, or write-only (EOI, SELF IPI)
    }
    return MsrAccess::done;
}

MsrAccess Lapic::write(std::uint32_t msr, std::uint64_t value, std::uint64_t now) {
    if (msr == msr::ia32_tsc_deadline) {
        if (timer_mode() != x2apic::timer_tsc_deadline) return MsrAccess::done; // ignored
        tsc_deadline_ = value;
        timer_armed_ = value != 0;
        timer_due_ = value;
        return MsrAccess::timer;
    }
    const auto v32 = static_cast<std::uint32_t>(value);
    if (msr != reg_icr && (value >> 32) != 0) return MsrAccess::fault; // 32-bit registers
    switch (msr) {
    case reg_tpr:
        if ((value & ~0xffull) != 0) return MsrAccess::fault;
        tpr_ = v32;
        return MsrAccess::done;
    case reg_eoi:
        if (value != 0) return MsrAccess::fault; // x2APIC: a nonzero EOI is #GP
        eoi();
        return MsrAccess::done;
    case reg_svr:
        svr_ = v32 & (0xffu | x2apic::svr_enable);
        if (!software_enabled()) { // software-disabled: every LVT entry masked
            lvt_timer_ |= x2apic::lvt_masked;
            lvt_thermal_ |= x2apic::lvt_masked;
            lvt_perf_ |= x2apic::lvt_masked;
            lvt_lint0_ |= x2apic::lvt_masked;
            lvt_lint1_ |= x2apic::lvt_masked;
            lvt_error_ |= x2apic::lvt_masked;
        }
        return MsrAccess::done;
    case reg_esr:
        if (value != 0) return MsrAccess::fault;
        esr_ = 0;
        return MsrAccess::done;
    case reg_icr:
        send_ipi(v32, (value >> 32) == 0);
        return MsrAccess::done;
    case reg_lvt_timer: {
        const std::uint32_t old_mode = timer_mode();
        write_lvt_timer(v32);
        return timer_mode() != old_mode ? MsrAccess::timer : MsrAccess::done;
    }
    case reg_lvt_thermal: lvt_thermal_ = v32 & lvt_simple_bits; break;
    case reg_lvt_perf: lvt_perf_ = v32 & lvt_simple_bits; break;
    case reg_lvt_lint0: lvt_lint0_ = v32 & lvt_lint_bits; break;
    case reg_lvt_lint1: lvt_lint1_ = v32 & lvt_lint_bits; break;
    case reg_lvt_error: lvt_error_ = v32 & lvt_error_bits; break;
    case reg_tmict:
        if (timer_mode() == x2apic::timer_tsc_deadline) return MsrAccess::done; // ignored
        tmict_ = v32;
        arm_count(now);
        return MsrAccess::timer;
    case reg_tdcr: tdcr_ = v32 & 0xbu; return MsrAccess::done;
    case reg_self_ipi:
        if ((value & ~0xffull) != 0) return MsrAccess::fault;
        ++self_ipis;
        request(static_cast<std::uint8_t>(v32));
        return MsrAccess::done;
    default: return MsrAccess::fault; // reserved or read-only
    }
    if (!software_enabled()) { // LVT writes while software-disabled keep the mask set
        lvt_thermal_ |= x2apic::lvt_masked;
        lvt_perf_ |= x2apic::lvt_masked;
        lvt_lint0_ |= x2apic::lvt_masked;
        lvt_lint1_ |= x2apic::lvt_masked;
        lvt_error_ |= x2apic::lvt_masked;
    }
    return MsrAccess::done;
}

} // namespace vmx

namespace vmx {
namespace {

// xAPIC registers without an x2APIC twin, or that differ (SDM "Local APIC Register Address Map").
enum : std::uint32_t {
    mmio_id = 0x20,
    mmio_eoi = 0xb0,
    mmio_ldr = 0xd0,
    mmio_dfr = 0xe0,
    mmio_esr = 0x280,
    mmio_icr_low = 0x300,
    mmio_icr_high = 0x310,
    mmio_self_ipi = 0x3f0, // x2APIC only
};
constexpr std::uint32_t icr_destination_logical = 1u << 11;

std::uint32_t as_msr(std::uint32_t offset) { return x2apic::first_msr + (offset >> 4); }

} // namespace

std::uint32_t Lapic::mmio_read(std::uint32_t offset, std::uint64_t now) const {
    if ((offset & 0xfu) != 0 || offset >= x2apic::page_size) return 0;
    switch (offset) {
    case mmio_id: return 0; // APIC ID 0 in bits 31:24 (CPUID.1:EBX[31:24] and the MP table agree)
    case mmio_ldr: return ldr_;
    case mmio_dfr: return dfr_;
    case mmio_icr_low: return 0; // delivery status idle: sends complete at once
    case mmio_icr_high: return icr_high_;
    case mmio_self_ipi: return 0;
    default: break;
    }
    std::uint64_t value = 0;
    if (read(as_msr(offset), now, &value) != MsrAccess::done) return 0;
    return static_cast<std::uint32_t>(value);
}

MsrAccess Lapic::mmio_write(std::uint32_t offset, std::uint32_t value, std::uint64_t now) {
    if ((offset & 0xfu) != 0 || offset >= x2apic::page_size) return MsrAccess::done;
    switch (offset) {
    case mmio_eoi: eoi(); return MsrAccess::done;   // any value (x2APIC: only 0)
    case mmio_esr: esr_ = 0; return MsrAccess::done; // any value
    case mmio_ldr: ldr_ = value & 0xff000000u; return MsrAccess::done;
    case mmio_dfr: dfr_ = value | 0x0fffffffu; return MsrAccess::done;
    case mmio_icr_high: icr_high_ = value & 0xff000000u; return MsrAccess::done;
    case mmio_icr_low: {
        const std::uint32_t destination = icr_high_ >> 24;
        const bool logical = (value & icr_destination_logical) != 0;
        send_ipi(value, logical ? (destination & (ldr_ >> 24)) != 0 : destination == 0);
        return MsrAccess::done;
    }
    case mmio_id:
    case mmio_self_ipi: return MsrAccess::done;
    default: break;
    }
    const MsrAccess a = write(as_msr(offset), value, now);
    return a == MsrAccess::fault ? MsrAccess::done : a;
}

} // namespace vmx
