// IN and OUT (SDM "IN—Input From Port", "OUT—Output to Port"): the console port prints, every
// other port reads all ones (a floating bus) and drops writes. INS/OUTS are in string_io.cpp.
#include "guest/runtime/abi.hpp"
#include "vmx/devices/console.hpp"
#include "vmx/exits/exit_helpers.hpp"
#include "vmx/vmcs/vmcs_access.hpp"

namespace vmx {
namespace {

// A 32-bit IN writes EAX and so clears RAX[63:32]; 8- and 16-bit INs keep the rest of RAX.
std::uint64_t io_in_value(std::uint64_t rax, unsigned size) {
    if (size == 4) return floating_bus & 0xffffffffull;
    const std::uint64_t mask = size == 1 ? 0xffull : 0xffffull;
    return (rax & ~mask) | (floating_bus & mask);
}

} // namespace

namespace {

[[gnu::noinline]] void console_out(Vcpu& guest, std::uint64_t value, unsigned size) {
    for (unsigned i = 0; i < size; ++i) console_put(guest, static_cast<char>(value >> (8 * i)));
}

} // namespace

void io_out_value(Vcpu& guest, std::uint16_t port, std::uint64_t value, unsigned size) {
    if (port == metronome::abi::console_port) {
        console_out(guest, value, size);
    } else {
        ++guest.counters.io_writes_dropped;
    }
}

namespace {

[[gnu::noinline]] ExitOutcome string_io(Vcpu& guest, std::uint64_t qualification) {
    return handle_string_io(guest, decode_io_exit(qualification));
}

} // namespace

// The exit qualification's fields are read straight from it (SDM "Exit Qualification for I/O
// Instructions": size - 1 in bits 2:0, IN in bit 3, string in bit 4, port in 31:16): the plain
// IN/OUT is an exit the fast path takes often.
ExitOutcome handle_io(Vcpu& guest) {
    const std::uint64_t q = vmcs::read(Field::exit_qualification);
    if ((q & io_qualification::string) != 0) return string_io(guest, q);
    const unsigned size = static_cast<unsigned>(q & io_qualification::size_minus_1) + 1;
    if ((q & io_qualification::in) != 0) {
        guest.regs.rax = io_in_value(guest.regs.rax, size);
        ++guest.counters.io_reads_all_ones;
    } else {
        io_out_value(guest, static_cast<std::uint16_t>(q >> io_qualification::port_shift), guest.regs.rax, size);
    }
    advance_rip();
    return ExitOutcome::resume;
}

} // namespace vmx
