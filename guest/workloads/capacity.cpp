// capacity: prints what the hypervisor CPUID leaves say (0x40000000 and every leaf up to the
// maximum it reports) and the start-info page, then idles (with a tick) or powers down with 0.
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
