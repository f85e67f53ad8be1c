// A local APIC for Linux guests (SDM Vol. 3 "Advanced Programmable Interrupt Controller (APIC)"),
// in xAPIC mode (its registers are the 4 KiB page at IA32_APIC_BASE, 0xFEE00000, reached through
// EPT violations: vmx/exits/mmio.cpp) or in x2APIC mode ("Extended XAPIC (x2APIC)": MSRs
// 0x800..0x8FF, RDMSR/WRMSR exits). A Linux guest gets xAPIC mode: Linux 6.1 without ACPI (the MP
// table) reads its APIC ID through the xAPIC page before it would pick an x2APIC driver, so an
// x2APIC already on at entry faults (the README's Linux section). It holds the interrupt request
// and in-service registers and the priorities, and its timer in all three modes: TSC-deadline
// (IA32_TSC_DEADLINE), one-shot and periodic (counting at the TSC's rate, the "crystal" CPUID
// leaf 0x15 announces). Pure: times are the guest's TSC values, given by the caller; the caller
// turns the timer's due time into a VMX-preemption-timer deadline and calls timer_expired when it
// passes.
#pragma once
#include <cstdint>

namespace vmx {

namespace x2apic {
inline constexpr std::uint32_t first_msr = 0x800;
inline constexpr std::uint32_t last_msr = 0x8ff;
// IA32_APIC_BASE (SDM "Local APIC Status and Location"): BSP, EXTD (x2APIC mode), EN.
inline constexpr std::uint64_t base_bsp = 1u << 8;
inline constexpr std::uint64_t base_extd = 1u << 10;
inline constexpr std::uint64_t base_enable = 1u << 11;
inline constexpr std::uint64_t default_base = 0xfee00000u;
// The xAPIC register page at default_base.
inline constexpr std::uint64_t page_size = 0x1000;
// LVT Timer mode bits 18:17.
inline constexpr std::uint32_t timer_one_shot = 0, timer_periodic = 1, timer_tsc_deadline = 2;
inline constexpr std::uint32_t lvt_masked = 1u << 16;
inline constexpr std::uint32_t svr_enable = 1u << 8;
} // namespace x2apic

enum class MsrAccess : std::uint8_t {
    done,        // handled
    timer,       // handled, and the timer's due time changed: tell whoever arms the timer
    fault,       // #GP(0), as the processor gives
};

class Lapic {
  public:
    // Register access by x2APIC MSR number (0x800 + offset / 16), and IA32_TSC_DEADLINE.
    MsrAccess read(std::uint32_t msr, std::uint64_t now, std::uint64_t* value) const;
    MsrAccess write(std::uint32_t msr, std::uint64_t value, std::uint64_t now);
    // xAPIC mode: a 32-bit access at `offset` into the register page (registers sit at 16-byte
    // boundaries; other offsets, reserved and write-only registers read 0, writes to them and to
    // read-only registers are ignored, as the xAPIC does). Never `fault`.
    std::uint32_t mmio_read(std::uint32_t offset, std::uint64_t now) const;
    MsrAccess mmio_write(std::uint32_t offset, std::uint32_t value, std::uint64_t now);

    // The mode: x2APIC (MSRs) or xAPIC (the page); IA32_APIC_BASE as it reads (EN, BSP, EXTD in
    // x2APIC mode, the page at default_base).
    bool x2apic_mode() const { return x2apic_mode_; }
    void set_x2apic_mode(bool on) { x2apic_mode_ = on; }
    std::uint64_t apic_base() const {
        return x2apic::default_base | x2apic::base_enable | x2apic::base_bsp | (x2apic_mode_ ? x2apic::base_extd : 0);
    }

    // The timer: armed, and when (guest TSC).
    bool timer_armed() const { return timer_armed_; }
    std::uint64_t timer_due() const { return timer_due_; }
    // The due time has passed (now >= timer_due): the timer's vector is requested unless LVT Timer
    // is masked; a periodic timer is re-armed one period after its due time. Returns whether an
    // interrupt was requested.
    bool timer_expired(std::uint64_t now);

    // Sets the request bit of `vector` (a fixed interrupt: self-IPI, a device, the timer).
    void request(std::uint8_t vector);
    // The vector the processor would take now, or -1: the highest requested vector whose priority
    // class is above the processor priority (SDM "Interrupt Acceptance for Fixed Interrupts").
    int deliverable() const;
    // The processor took `vector` (VM entry injected it): from IRR to ISR.
    void accept(std::uint8_t vector);
    // LINT0 is unmasked in ExtINT mode: the 8259's output reaches the processor (virtual wire).
    bool lint0_extint() const;
    bool software_enabled() const { return (svr_ & x2apic::svr_enable) != 0; }
    std::uint8_t timer_vector() const { return static_cast<std::uint8_t>(lvt_timer_ & 0xffu); }

    std::uint32_t processor_priority() const;
    std::uint64_t eois = 0;          // EOI writes
    std::uint64_t self_ipis = 0;     // fixed interrupts it sent itself (ICR or SELF IPI)
    std::uint64_t ipis_dropped = 0;  // other ICR writes: no other processor exists

  private:
    static bool test(const std::uint32_t* bits, std::uint8_t v) { return (bits[v >> 5] >> (v & 31) & 1u) != 0; }
    static void set(std::uint32_t* bits, std::uint8_t v) { bits[v >> 5] |= 1u << (v & 31); }
    static void clear(std::uint32_t* bits, std::uint8_t v) { bits[v >> 5] &= ~(1u << (v & 31)); }
    static int highest(const std::uint32_t* bits);
    std::uint32_t timer_mode() const { return lvt_timer_ >> 17 & 3u; }
    std::uint64_t divisor() const;
    void arm_count(std::uint64_t now);
    void write_lvt_timer(std::uint32_t value);
    void eoi();
    void send_ipi(std::uint32_t icr_low, bool to_self);

    std::uint32_t irr_[8] = {};
    std::uint32_t isr_[8] = {};
    std::uint32_t tpr_ = 0;
    std::uint32_t svr_ = 0xff;                 // reset: vector 0xFF, software-disabled
    std::uint32_t esr_ = 0;
    std::uint32_t lvt_timer_ = x2apic::lvt_masked;
    std::uint32_t lvt_thermal_ = x2apic::lvt_masked;
    std::uint32_t lvt_perf_ = x2apic::lvt_masked;
    std::uint32_t lvt_lint0_ = x2apic::lvt_masked;
    std::uint32_t lvt_lint1_ = x2apic::lvt_masked;
    std::uint32_t lvt_error_ = x2apic::lvt_masked;
    std::uint32_t tdcr_ = 0;
    std::uint32_t tmict_ = 0;
    std::uint64_t tsc_deadline_ = 0;           // IA32_TSC_DEADLINE as written (0: disarmed)
    std::uint64_t count_start_ = 0;            // one-shot/periodic: when the count began
    bool timer_armed_ = false;
    std::uint64_t timer_due_ = 0;
    bool x2apic_mode_ = false;
    std::uint32_t ldr_ = 0;                    // xAPIC: logical ID in bits 31:24
    std::uint32_t dfr_ = 0xffffffffu;          // xAPIC: model in bits 31:28 (flat), the rest ones
    std::uint32_t icr_high_ = 0;               // xAPIC: destination in bits 31:24
};

} // namespace vmx
