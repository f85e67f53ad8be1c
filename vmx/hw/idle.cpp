#include "vmx/hw/idle.hpp"

#include "vmx/hw/cpu.hpp"
#include "vmx/hw/cpu_block.hpp"
#include "vmx/hw/cpu_state.hpp"
#include "vmx/arch/msr.hpp"
#include "vmx/caps/mtrr.hpp"
#include "vmx/lib/text.hpp"

extern "C" void metronome_idle_interrupt();

namespace vmx::hw {
namespace {

// Local APIC registers by xAPIC offset; in x2APIC mode the MSR is 0x800 + offset / 16 (SDM
// "x2APIC Register Address Space").
constexpr std::uint32_t apic_tpr = 0x080, apic_eoi = 0x0b0, apic_irr = 0x200;
constexpr std::uint32_t apic_lvt_timer = 0x320, apic_initial_count = 0x380;
constexpr std::uint32_t lvt_masked = 1u << 16;
constexpr std::uint32_t lvt_mode_shift = 17, lvt_mode_mask = 3u << lvt_mode_shift;
constexpr std::uint32_t lvt_mode_tsc_deadline = 2u << lvt_mode_shift;
constexpr std::uint32_t ia32_tsc_deadline = 0x6e0;
constexpr std::uint64_t apic_base_x2apic = 1u << 10;
constexpr std::uint32_t leaf1_edx_mtrr = 1u << 12;

// MONITOR watches this line when it is write-back memory (else another one, vmx/caps/mtrr.hpp);
// nothing writes it, so only the wake-up interrupt ends the wait (every CPU may watch the same
// line for that reason).
// A page of its own: an emulator may watch writes at page granularity.
alignas(4096) volatile std::uint64_t g_monitor_line[512];

void mfence() { asm volatile("mfence" : : : "memory"); }

MtrrState read_mtrrs() {
    MtrrState m;
    if ((cpuid(1).edx & leaf1_edx_mtrr) == 0) return m; // no MTRRs: def_type 0 reads as disabled
    m.cap = rdmsr(mtrr_msr::cap);
    m.def_type = rdmsr(mtrr_msr::def_type);
    if ((m.cap & (1u << 8)) != 0) {
        m.fixed[0] = rdmsr(mtrr_msr::fix64k_00000);
        m.fixed[1] = rdmsr(mtrr_msr::fix16k_80000);
        m.fixed[2] = rdmsr(mtrr_msr::fix16k_80000 + 1);
        for (unsigned i = 0; i < 8; ++i) m.fixed[3 + i] = rdmsr(mtrr_msr::fix4k_c0000 + i);
    }
    const unsigned count = static_cast<unsigned>(m.cap & 0xff);
    for (unsigned i = 0; i < count && i < kMaxVariableMtrrs; ++i) {
        m.base[i] = rdmsr(mtrr_msr::phys_base0 + 2 * i);
        m.mask[i] = rdmsr(mtrr_msr::phys_base0 + 2 * i + 1);
    }
    if (cpuid(0x80000000u).eax >= 0x80000008u) m.physical_address_bits = cpuid(0x80000008u).eax & 0xffu;
    return m;
}

} // namespace

std::uint32_t Idle::apic_read(std::uint32_t offset) const {
    if (x2apic_) return static_cast<std::uint32_t>(rdmsr(0x800 + (offset >> 4)));
    return *reinterpret_cast<volatile std::uint32_t*>(apic_base_ + offset);
}

void Idle::apic_write(std::uint32_t offset, std::uint32_t value) const {
    if (x2apic_) {
        wrmsr(0x800 + (offset >> 4), value);
    } else {
        *reinterpret_cast<volatile std::uint32_t*>(apic_base_ + offset) = value;
    }
}

void Idle::describe(const char* reason) {
    Text text(description_, sizeof(description_));
    text.str(idle_method_description(method_));
    if (reason != nullptr && reason[0] != '\0') text.str(" (").str(reason).chr(')');
}

void Idle::init(void* idt_page) {
    idt_ = nullptr;
    sleeps_ = wake_interrupts_ = 0;
    empty_wakes_ = 0;
    IdleCpuFacts facts;
    facts.max_basic_leaf = cpuid(0).eax;
    const CpuidResult one = cpuid(1);
    facts.leaf1_ecx = one.ecx;
    // UEFI maps memory identity: the line's linear address is its physical address.
    const MtrrState mtrrs = read_mtrrs();
    mtrr_default_type_ = mtrrs.def_type;
    monitor_line_ = write_back_monitor_line(mtrrs, reinterpret_cast<std::uint64_t>(&g_monitor_line[0]));
    facts.write_back_line = monitor_line_ != kNoWriteBackLine;
    if (facts.max_basic_leaf >= 5) facts.leaf5_ecx = cpuid(5).ecx;
    facts.apic_base = rdmsr(msr::ia32_apic_base);
    x2apic_ = (facts.apic_base & apic_base_x2apic) != 0;
    apic_base_ = facts.apic_base & 0xffffff000ull;
    if ((facts.apic_base & idle_cpuid::apic_base_enabled) != 0) facts.task_priority = apic_read(apic_tpr);
    method_ = idt_page != nullptr ? choose_idle_method(facts) : IdleMethod::pause_loop;
    describe(idle_fallback_reason(facts));
    if (method_ != IdleMethod::mwait_tsc_deadline) return;

    // Every vector goes to the one handler: only the wake-up is expected in the instant
    // interrupts are on, but whatever else might slip in must not find a missing gate.
    idt_ = idt_page;
    auto* gates = static_cast<std::uint64_t*>(idt_page);
    const auto handler = reinterpret_cast<std::uint64_t>(&metronome_idle_interrupt);
    const std::uint64_t selector = read_cs();
    for (unsigned v = 0; v < 256; ++v) {
        // 64-bit interrupt gate: present, DPL 0, type 0xE (SDM "64-Bit Mode IDT").
        gates[2 * v] = (handler & 0xffffu) | (selector << 16) | (0x8eull << 40) | ((handler & 0xffff0000u) << 32);
        gates[2 * v + 1] = handler >> 32;
    }
    firmware_lvt_ = apic_read(apic_lvt_timer);
    firmware_initial_count_ = apic_read(apic_initial_count);
    timer_mode_changed_ = (firmware_lvt_ & lvt_mode_mask) != lvt_mode_tsc_deadline;
    apic_write(apic_lvt_timer, lvt_masked | lvt_mode_tsc_deadline | idle_wake_vector);
    mfence();
}

void Idle::idle_until(std::uint64_t tsc, bool (*background)()) {
    for (;;) {
        if (background != nullptr && background()) return; // console input: the run loop takes it
        const IdleStep step = plan_idle_step(method_, rdtsc(), tsc);
        if (step.done) return;
        if (step.sleep) {
            sleep_until(step.wake_at);
        } else {
            pause();
        }
    }
}

// SDM "TSC-Deadline Mode": the LVT write must be globally visible before the deadline is
// written (MFENCE), and writing 0 disarms the timer. MWAIT's EAX = 0 asks for C1, the shallowest
// state, so the wake-up latency stays small; ECX[0] = 1 lets the masked interrupt end it.
void Idle::sleep_until(std::uint64_t wake_at) {
    ++sleeps_;
    apic_write(apic_lvt_timer, lvt_mode_tsc_deadline | idle_wake_vector);
    mfence();
    wrmsr(ia32_tsc_deadline, wake_at);
    (void)*reinterpret_cast<volatile const std::uint64_t*>(monitor_line_); // a fresh translation
    asm volatile("monitor" : : "a"(monitor_line_), "c"(0u), "d"(0u) : "memory");
    if (rdtsc() < wake_at) asm volatile("mwait" : : "a"(0u), "c"(1u) : "memory");
    const bool early = rdtsc() < wake_at;
    wrmsr(ia32_tsc_deadline, 0);
    apic_write(apic_lvt_timer, lvt_masked | lvt_mode_tsc_deadline | idle_wake_vector);
    const bool interrupted = take_wake_interrupt();
    empty_wakes_ = early && !interrupted ? empty_wakes_ + 1 : 0;
    if (empty_wakes_ >= idle_empty_wakes_limit) {
        method_ = IdleMethod::pause_loop;
        describe("MWAIT returned at once, again and again: the monitor did not arm");
    }
}

// The wake-up fired while RFLAGS.IF = 0, so it waits in the APIC's IRR. Take it now, through
// our own IDT for the length of one instruction, and end it: otherwise it would be pending at
// the next VM entry and cost a guest an external-interrupt exit.
bool Idle::take_wake_interrupt() {
    bool taken = false;
    const std::uint32_t irr_word = apic_irr + 0x10u * (idle_wake_vector / 32);
    const std::uint32_t irr_bit = 1u << (idle_wake_vector % 32);
    for (int attempt = 0; attempt < 3 && (apic_read(irr_word) & irr_bit) != 0; ++attempt) {
        const DescriptorTablePointer firmware_idt = sidt();
        DescriptorTablePointer ours;
        ours.limit = 256 * 16 - 1;
        ours.base = reinterpret_cast<std::uint64_t>(idt_);
        volatile std::uint8_t& interrupted = this_cpu().header.idle_interrupted;
        interrupted = 0;
        lidt(ours);
        asm volatile("sti\n\tnop\n\tcli" : : : "memory"); // STI's shadow covers the NOP only
        lidt(firmware_idt);
        if (interrupted != 0) {
            ++wake_interrupts_;
            taken = true;
            apic_write(apic_eoi, 0);
        }
    }
    return taken;
}

void Idle::finish() {
    if (idt_ == nullptr) return; // the APIC timer was never touched
    // InterruptMasks::restore() put the firmware's LVT back; changing the timer mode disarmed
    // the timer (SDM "TSC-Deadline Mode"), so its count is written again.
    if (timer_mode_changed_ && firmware_initial_count_ != 0) apic_write(apic_initial_count, firmware_initial_count_);
}

} // namespace vmx::hw
