// IN and OUT (SDM "IN—Input From Port", "OUT—Output to Port"): the console port prints; a Linux
// guest's other ports go to its virtual PC (vmx/devices/pc.hpp); for the guests of guest/ABI.md
// every other port reads all ones (a floating bus) and drops writes. INS/OUTS are in
// string_io.cpp.
#include "guest/runtime/abi.hpp"
#include "vmx/devices/console.hpp"
#include "vmx/devices/pc.hpp"
#include "vmx/lib/text.hpp"
#include "vmx/exits/exit_helpers.hpp"
#include "vmx/vmcs/vmcs_access.hpp"

namespace vmx {
namespace {

// A 32-bit IN writes EAX and so clears RAX[63:32]; 8- and 16-bit INs keep the rest of RAX. By
// size - 1 (the qualification's field): the bits of RAX an IN keeps, and those it reads.
constexpr std::uint64_t in_keeps[8] = {~0xffull, ~0xffffull, 0, 0, 0, 0, 0, 0};
constexpr std::uint64_t in_reads[8] = {0xffull, 0xffffull, 0, 0xffffffffull, 0, 0, 0, 0};

std::uint64_t io_in_value(std::uint64_t rax, std::uint64_t size_minus_1) {
    return (rax & in_keeps[size_minus_1]) | (floating_bus & in_reads[size_minus_1]);
}

} // namespace

namespace {

[[gnu::noinline]] void console_out(Vcpu& guest, std::uint64_t value, unsigned size) {
    for (unsigned i = 0; i < size; ++i) console_put(guest, static_cast<char>(value >> (8 * i)));
}

} // namespace

bool io_out_value(Vcpu& guest, std::uint16_t port, std::uint64_t value, unsigned size) {
    if (port == metronome::abi::console_port) {
        console_out(guest, value, size);
    } else if (guest.pc != nullptr) {
        return pc_out(guest, port, size, static_cast<std::uint32_t>(value), guest_tsc_now(guest)) == PcPort::reset;
    } else {
        ++guest.counters.io_writes_dropped;
    }
    return false;
}

ExitOutcome stop_for_reset(Vcpu& guest, std::uint16_t port, std::uint64_t value) {
    FixedText<sizeof(GuestStop::detail)> text;
    text.str("reboot requested (").hex(value & 0xffu).str(" to port ").hex(port).str("): nothing is reset, the guest stops");
    stop_guest(guest, StopReason::reboot, exit_reason::io_instruction, text.c_str());
    return ExitOutcome::stopped;
}

namespace {

[[gnu::noinline]] ExitOutcome string_io(Vcpu& guest, std::uint64_t qualification) {
    return handle_string_io(guest, decode_io_exit(qualification));
}

unsigned io_size(std::uint64_t q) { return static_cast<unsigned>(q & io_qualification::size_minus_1) + 1; }
std::uint16_t io_port(std::uint64_t q) { return static_cast<std::uint16_t>(q >> io_qualification::port_shift); }

// A Linux guest's plain IN or OUT: its virtual PC's ports.
[[gnu::noinline]] ExitOutcome pc_io(Vcpu& guest, std::uint64_t q) {
    const unsigned size = io_size(q);
    const std::uint16_t port = io_port(q);
    if ((q & io_qualification::in) != 0) {
        const std::uint64_t v = pc_in(guest, port, size, guest_tsc_now(guest));
        guest.regs.rax = (guest.regs.rax & in_keeps[q & io_qualification::size_minus_1]) | v;
    } else if (io_out_value(guest, port, guest.regs.rax, size)) {
        return stop_for_reset(guest, port, guest.regs.rax);
    }
    advance_rip();
    return ExitOutcome::resume;
}

} // namespace

// The exit qualification's fields are read straight from it (SDM "Exit Qualification for I/O
// Instructions": size - 1 in bits 2:0, IN in bit 3, string in bit 4, port in 31:16): the plain
// IN/OUT is an exit the fast path takes often. A Metronome guest's IN makes no call at all.
ExitOutcome handle_io(Vcpu& guest) {
    const std::uint64_t q = vmcs::read(Field::exit_qualification);
    if ((q & io_qualification::string) != 0) return string_io(guest, q);
    if (guest.pc != nullptr) return pc_io(guest, q);
    if ((q & io_qualification::in) != 0) {
        guest.regs.rax = io_in_value(guest.regs.rax, q & io_qualification::size_minus_1);
        ++guest.counters.io_reads_all_ones;
    } else if (io_out_value(guest, io_port(q), guest.regs.rax, io_size(q))) {
        return stop_for_reset(guest, io_port(q), guest.regs.rax);
    }
    advance_rip();
    return ExitOutcome::resume;
}

} // namespace vmx
