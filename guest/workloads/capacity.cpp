// capacity: prints what the hypervisor CPUID leaves say (0x40000000 and every leaf up to the
// maximum it reports, raw), then Metronome's capacity leaves 0x40000001..3 in words (layout in
// guest/ABI.md, "CPUID"), and the start-info page; then idles (with a tick) or powers down with 0.
#include "workloads/workloads.hpp"

namespace {

constexpr std::uint32_t base_leaf = metronome::abi::cpuid_base_leaf;
constexpr std::uint32_t most_leaves = 64; // a foreign hypervisor may report many; print the first

void print_register_bytes(std::uint32_t value) {
    for (int i = 0; i < 4; ++i) {
        const auto c = static_cast<char>(value >> (8 * i));
        if (c == '\0') return;
        guest::print_char(c >= ' ' && c <= '~' ? c : '.');
    }
}

void print_leaf(std::uint32_t leaf, const guest::Cpuid& r) {
    guest::print("capacity: leaf ");
    guest::print_hex(leaf);
    guest::print(": eax=");
    guest::print_hex(r.eax);
    guest::print(" ebx=");
    guest::print_hex(r.ebx);
    guest::print(" ecx=");
    guest::print_hex(r.ecx);
    guest::print(" edx=");
    guest::print_hex(r.edx);
    guest::print_char('\n');
}

// Capacity leaves (guest/ABI.md, "CPUID").
constexpr std::uint32_t capacity_leaf = base_leaf + 1;     // share, policy, flags, guests
constexpr std::uint32_t lengths_leaf = base_leaf + 2;      // slice, frame, period (us), cap %
constexpr std::uint32_t ticks_leaf = base_leaf + 3;        // slice, frame in TSC ticks
constexpr std::uint32_t flag_hlt_yields = 1u << 0;
constexpr std::uint32_t flag_reclaim = 1u << 1;
constexpr std::uint32_t flag_work_conserving = 1u << 2;

const char* policy_word(std::uint32_t code) {
    switch (code) {
    case 1: return "fixed";
    case 2: return "shared";
    case 3: return "capped";
    default: return "unknown";
    }
}

void print_percent_of_ppm(std::uint32_t ppm) {
    guest::print_dec(ppm / 10000);
    guest::print_char('.');
    const std::uint32_t hundredths = ppm % 10000 / 100;
    if (hundredths < 10) guest::print_char('0');
    guest::print_dec(hundredths);
    guest::print_char('%');
}

std::uint64_t join(std::uint32_t low, std::uint32_t high) {
    return (static_cast<std::uint64_t>(high) << 32) | low;
}

void print_capacity_in_words() {
    const guest::Cpuid c = guest::cpuid(capacity_leaf);
    const guest::Cpuid l = guest::cpuid(lengths_leaf);
    const guest::Cpuid t = guest::cpuid(ticks_leaf);
    if (c.ebx == 0) {
        guest::console_line("capacity: the hypervisor does not state a capacity");
        return;
    }
    guest::print("capacity: policy ");
    guest::print(policy_word(c.ebx));
    guest::print(", expected share ");
    print_percent_of_ppm(c.eax);
    guest::print(" (");
    guest::print_dec(c.eax);
    guest::print(" ppm) of one CPU, ");
    guest::print_dec(c.edx);
    guest::console_line(" guests");
    guest::print("capacity: slice ");
    guest::print_dec(l.eax);
    guest::print(" us (");
    guest::print_dec(join(t.eax, t.ebx));
    guest::print(" TSC ticks), ");
    if (l.ebx != 0) {
        guest::print("frame ");
        guest::print_dec(l.ebx);
        guest::print(" us (");
        guest::print_dec(join(t.ecx, t.edx));
        guest::console_line(" TSC ticks)");
    } else {
        guest::console_line("no fixed frame");
    }
    if (l.edx != 0) {
        guest::print("capacity: capped at ");
        guest::print_dec(l.edx);
        guest::print("% of every ");
        guest::print_dec(l.ecx);
        guest::console_line(" us");
    }
    const bool hlt_exits = (c.ecx & flag_hlt_yields) != 0;
    const bool work_conserving = (c.ecx & flag_work_conserving) != 0;
    guest::print("capacity: HLT ");
    if (!hlt_exits) {
        guest::print("halts inside the slice");
    } else {
        guest::print(work_conserving ? "yields the rest of the slice" : "exits, the slot stays this guest's");
    }
    guest::print(work_conserving ? ", work-conserving" : ", not work-conserving");
    guest::print(", a dead guest's share is ");
    guest::console_line((c.ecx & flag_reclaim) != 0 ? "reclaimed" : "reserved");
}

} // namespace

void workloads::capacity(const StartInfo& info) {
    const guest::Cpuid base = guest::cpuid(base_leaf);
    const bool is_metronome = base.ebx == metronome::abi::cpuid_signature_ebx &&
                              base.ecx == metronome::abi::cpuid_signature_ecx &&
                              base.edx == metronome::abi::cpuid_signature_edx;
    guest::print("capacity: cpuid 0x40000000: max leaf ");
    guest::print_hex(base.eax);
    guest::print(", signature \"");
    print_register_bytes(base.ebx);
    print_register_bytes(base.ecx);
    print_register_bytes(base.edx);
    guest::console_line(is_metronome ? "\"" : "\" (not Metronome)");
    if (base.eax > base_leaf) {
        const std::uint32_t last =
            base.eax - base_leaf > most_leaves ? base_leaf + most_leaves : base.eax;
        for (std::uint32_t leaf = base_leaf + 1; leaf <= last; ++leaf)
            print_leaf(leaf, guest::cpuid(leaf));
    }
    if (is_metronome && base.eax >= ticks_leaf) print_capacity_in_words();
    guest::print("capacity: start info: guest ");
    guest::print_dec(info.guest_index);
    guest::print(", memory ");
    guest::print_dec(info.memory_size >> 20);
    guest::print(" MiB, tick_hz ");
    guest::print_dec(info.tick_hz);
    guest::print(", tsc_hz ");
    guest::print_dec(info.tsc_hz);
    guest::print(", param ");
    guest::print_dec(info.param);
    guest::print_char('\n');
    if (guest::has_tick()) {
        guest::console_line("capacity: done, idling");
        guest::idle_forever();
    }
    guest::console_line("capacity: done, powering down (code 0)");
    guest::powerdown(0);
}
