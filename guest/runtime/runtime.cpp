// Start-up, interrupt descriptor table, ticks, exceptions, progress and power-down.
#include "runtime/guest.hpp"

namespace {

using metronome::abi::StartInfo;

// A 64-bit interrupt gate (Intel SDM, "64-Bit Mode IDT").
struct IdtEntry {
    std::uint16_t offset_low;
    std::uint16_t selector;
    std::uint8_t ist;
    std::uint8_t type_attributes;
    std::uint16_t offset_mid;
    std::uint32_t offset_high;
    std::uint32_t reserved;
};
static_assert(sizeof(IdtEntry) == 16);

struct [[gnu::packed]] TableRegister {
    std::uint16_t limit;
    std::uint64_t base;
};

alignas(16) IdtEntry g_idt[256];
// The exceptions' own stack (IST1), so that a fault with a broken RSP still gets reported.
alignas(16) std::uint8_t g_exception_stack[8192];
bool g_in_exception = false;

constexpr std::uint8_t interrupt_gate = 0x8E; // present, DPL 0, 64-bit interrupt gate

// Volatile stores, so that the compiler cannot turn the start-up code into SSE before the IDT
// exists: if the hypervisor forgot CR4.OSFXSR, the guest then reports #UD instead of
// triple-faulting.
void set_gate(unsigned vector, std::uint64_t handler, std::uint8_t ist) {
    volatile IdtEntry& e = g_idt[vector];
    e.offset_low = static_cast<std::uint16_t>(handler);
    e.selector = metronome::abi::code_selector;
    e.ist = ist;
    e.type_attributes = interrupt_gate;
    e.offset_mid = static_cast<std::uint16_t>(handler >> 16);
    e.offset_high = static_cast<std::uint32_t>(handler >> 32);
    e.reserved = 0;
}

TableRegister read_gdtr() {
    TableRegister r{};
    asm volatile("sgdt %0" : "=m"(r));
    return r;
}

std::uint16_t read_tr() {
    std::uint16_t selector;
    asm volatile("str %0" : "=r"(selector));
    return selector;
}

// Points IST1 of the current TSS (found through TR and the GDT, both in guest memory) at the
// exception stack. Returns false when there is no usable TSS; exceptions then use the current
// stack.
bool install_exception_stack() {
    const TableRegister gdtr = read_gdtr();
    const std::uint16_t tr = read_tr() & 0xFFF8;
    if (tr == 0 || tr + 15u > gdtr.limit) return false;
    const auto* desc = reinterpret_cast<const volatile std::uint32_t*>(gdtr.base + tr);
    const std::uint64_t base = (desc[0] >> 16) | ((desc[1] & 0xFF) << 16) |
                               (desc[1] & 0xFF00'0000) | (std::uint64_t{desc[2]} << 32);
    const std::uint64_t top =
        reinterpret_cast<std::uint64_t>(g_exception_stack + sizeof g_exception_stack);
    // IST1 is the unaligned 64-bit field at TSS offset 0x24.
    auto* ist1 = reinterpret_cast<volatile std::uint32_t*>(base + 0x24);
    ist1[0] = static_cast<std::uint32_t>(top);
    ist1[1] = static_cast<std::uint32_t>(top >> 32);
    return true;
}

const char* exception_name(std::uint64_t vector) {
    static constexpr const char* names[32] = {
        "#DE",  "#DB",  "NMI",  "#BP",  "#OF",  "#BR",  "#UD", "#NM", "#DF", "(9)", "#TS",
        "#NP",  "#SS",  "#GP",  "#PF",  "(15)", "#MF",  "#AC", "#MC", "#XM", "#VE", "#CP",
        "(22)", "(23)", "(24)", "(25)", "(26)", "(27)", "#HV", "#VC", "#SX", "(31)"};
    return vector < 32 ? names[vector] : "?";
}

void check_start_info(StartInfo* info) {
    if (info->magic == metronome::abi::start_info_magic &&
        info->abi_version == metronome::abi::version)
        return;
    guest::console_line("metronome guest runtime: no valid start-info page in RDI; powering down");
    guest::powerdown(guest::exit_bad_start_info);
}

} // namespace

using guest::ExceptionFrame;

StartInfo* guest::detail::start_info = nullptr;

extern "C" {
// Shared with start.S.
volatile std::uint64_t guest_tick_count = 0;
volatile std::uint64_t* guest_ticks_seen = nullptr;
extern const std::uint64_t guest_exception_stubs[32];
void guest_tick_entry();
[[noreturn]] void runtime_start(StartInfo* info, std::uint64_t param);
void guest_exception(ExceptionFrame* frame); // returns only when a workload handler took it
}

namespace {
// Where the tick handler counts ticks before the start-info page is known (never read).
volatile std::uint64_t g_ticks_nowhere = 0;
// Workload handlers per exception vector (guest::set_exception_handler); null = report and stop.
guest::ExceptionHandler g_handlers[32] = {};
} // namespace

void runtime_start(StartInfo* info, std::uint64_t param) {
    (void)param; // the same value is in info->param
    guest_ticks_seen = &g_ticks_nowhere;
    const std::uint8_t ist = install_exception_stack() ? 1 : 0;
    for (unsigned v = 0; v < 32; ++v)
        set_gate(v, guest_exception_stubs[v], ist);
    const TableRegister idtr{sizeof g_idt - 1, reinterpret_cast<std::uint64_t>(g_idt)};
    asm volatile("lidt %0" ::"m"(idtr) : "memory");

    check_start_info(info);
    guest::detail::start_info = info;
    guest_ticks_seen = &info->ticks_seen;
    const std::uint32_t vector = info->tick_vector;
    set_gate(vector >= 32 && vector < 256 ? vector : metronome::abi::tick_vector,
             reinterpret_cast<std::uint64_t>(&guest_tick_entry), 0);

    workload_main(info);
    guest::powerdown(guest::exit_ok);
}

void guest_exception(ExceptionFrame* frame) {
    if (frame->vector < 32 && !g_in_exception) {
        const guest::ExceptionHandler handler = g_handlers[frame->vector];
        if (handler != nullptr && handler(*frame)) return; // start.S resumes with IRETQ
    }
    const std::uint64_t code = guest::exit_exception_base + frame->vector;
    if (g_in_exception) guest::powerdown(code); // the report path itself faulted: no more output
    g_in_exception = true;
    std::uint64_t cr2;
    asm volatile("mov %%cr2, %0" : "=r"(cr2));
    guest::console_flush();
    guest::print("exception ");
    guest::print_dec(frame->vector);
    guest::print(" ");
    guest::print(exception_name(frame->vector));
    guest::print(" at rip ");
    guest::print_hex(frame->rip);
    guest::print(" error ");
    guest::print_hex(frame->error_code);
    guest::print(" rsp ");
    guest::print_hex(frame->rsp);
    if (frame->vector == 14) {
        guest::print(" cr2 ");
        guest::print_hex(cr2);
    }
    guest::print("; powering down with code ");
    guest::print_hex(code);
    guest::print_char('\n');
    guest::powerdown(code);
}

namespace guest {

void set_exception_handler(unsigned vector, ExceptionHandler handler) {
    if (vector < 32) g_handlers[vector] = handler;
}

void enable_ticks() {
    if (has_tick()) sti();
}

void wait_for_tick() {
    const std::uint64_t seen = ticks();
    for (;;) {
        cli();
        if (ticks() != seen) break;
        sti_hlt();
    }
    sti();
}

void idle_forever() {
    for (;;)
        sti_hlt();
}

std::uint64_t busy_work(std::uint64_t rounds) {
    std::uint64_t x = 0x9E37'79B9'7F4A'7C15;
    for (std::uint64_t i = 0; i < rounds; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        keep(x);
    }
    return x;
}

void powerdown(std::uint64_t code) {
    console_flush();
    hypercall(metronome::abi::Hypercall::powerdown, code);
    // Only reached under a hypervisor that does not implement powerdown.
    for (;;) {
        cli();
        hlt();
    }
}

void triple_fault() {
    cli();
    const TableRegister empty{0, 0};
    asm volatile("lidt %0\n\tud2" ::"m"(empty) : "memory");
    __builtin_unreachable();
}

} // namespace guest
