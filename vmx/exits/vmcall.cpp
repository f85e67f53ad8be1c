// VMCALL: Metronome's hypercalls (guest/ABI.md section 7): yield, powerdown, console write, ready.
#include "guest/runtime/abi.hpp"
#include "vmx/devices/console.hpp"
#include "vmx/exits/exit_helpers.hpp"
#include "vmx/lib/text.hpp"

namespace vmx {

namespace abi = metronome::abi;

namespace {

constexpr std::uint64_t number(abi::Hypercall h) { return static_cast<std::uint64_t>(h); }

// The whole range [RBX, RBX + RCX) inside memory and at most 4096 bytes, or nothing is written.
// At most abi::console_write_bytes_per_exit bytes per exit, so that no exit runs long: the rest is
// done by re-executing the VMCALL with RBX and RCX advanced, as an interrupted REP OUTSB would be.
// A done write returns RBX = its end and RCX = 0.
[[gnu::noinline]] ExitOutcome console_write(Vcpu& guest) {
    const std::uint64_t at = guest.regs.rbx;
    const std::uint64_t length = guest.regs.rcx;
    if (length > abi::console_max_write || at > guest.memory_size || length > guest.memory_size - at) {
        guest.regs.rax = abi::hypercall_bad_argument;
        advance_rip();
        return ExitOutcome::resume;
    }
    const std::uint64_t now = length < abi::console_write_bytes_per_exit ? length : abi::console_write_bytes_per_exit;
    for (std::uint64_t i = 0; i < now; ++i) console_put(guest, static_cast<char>(guest.memory[at + i]));
    guest.regs.rbx = at + now;
    guest.regs.rcx = length - now;
    if (guest.regs.rcx != 0) return ExitOutcome::resume;
    guest.regs.rax = abi::hypercall_ok;
    advance_rip();
    return ExitOutcome::resume;
}

} // namespace

namespace {

// Out of line: its text buffer would otherwise give every hypercall a stack frame.
[[gnu::noinline, gnu::cold]] ExitOutcome powerdown(Vcpu& guest) {
    FixedText<sizeof(GuestStop::detail)> code;
    code.str("powered down (code ").dec(guest.regs.rbx).chr(')');
    stop_guest(guest, StopReason::powerdown, exit_reason::vmcall, code.c_str());
    guest.stop.code = guest.regs.rbx;
    return ExitOutcome::stopped;
}

} // namespace

ExitOutcome handle_vmcall(Vcpu& guest) {
    ++guest.counters.hypercalls;
    const std::uint64_t call = guest.regs.rax; // the whole 64 bits (guest/ABI.md section 7)
    if (call == number(abi::Hypercall::yield)) {
        guest.regs.rax = abi::hypercall_ok;
        advance_rip();
        return ExitOutcome::yielded;
    }
    if (call == number(abi::Hypercall::powerdown)) return powerdown(guest);
    if (call == number(abi::Hypercall::console_write)) return console_write(guest);
    if (call == number(abi::Hypercall::ready)) {
        guest.regs.rax = abi::hypercall_ok;
        advance_rip();
        if (guest.ready) return ExitOutcome::resume;
        guest.ready = true;
        return ExitOutcome::ready; // the run loop counts it
    }
    guest.regs.rax = abi::hypercall_unknown;
    advance_rip();
    return ExitOutcome::resume;
}

} // namespace vmx
