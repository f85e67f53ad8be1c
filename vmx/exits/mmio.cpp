// A Linux guest's accesses to its xAPIC register page (vmx/devices/lapic.hpp). The page is not in
// the guest's EPT, so every access is an EPT violation with the guest-physical address; the
// instruction at RIP is fetched through the guest's page tables and decoded (mmio_decode.hpp) for
// what the exit does not say: the direction, the data and the length. The access is done on the
// APIC and RIP moves past the instruction, as if the page had been memory. An instruction the
// decoder does not know stops the guest with its bytes in the report: guessing would corrupt it.
#include "vmx/arch/x86.hpp"
#include "vmx/arch/segments.hpp"
#include "vmx/devices/pc.hpp"
#include "vmx/exits/exit_helpers.hpp"
#include "vmx/exits/mmio_decode.hpp"
#include "vmx/guest/guest_paging.hpp"
#include "vmx/lib/text.hpp"
#include "vmx/vmcs/vmcs_access.hpp"

namespace vmx {
namespace {

// The instruction's bytes at RIP, as far as they can be read (at most max_instruction_length).
std::size_t fetch_instruction(const Vcpu& guest, bool long_mode, std::uint8_t* bytes) {
    const std::uint64_t cs_base = long_mode ? 0 : vmcs::read(Field::guest_cs_base);
    WalkAccess fetch;
    fetch.fetch = true;
    fetch.user = ((vmcs::read(Field::guest_ss_access_rights) & segment_ar::dpl_mask) >> segment_ar::dpl_shift) == 3;
    return read_guest_linear(guest.memory, guest.memory_size, (vmcs::read(Field::guest_cr0) & cr0::pg) != 0,
                             vmcs::read(Field::guest_cr3), cs_base + vmcs::read(Field::guest_rip), fetch, bytes,
                             max_instruction_length);
}

// The register operand's value (size bytes; AH..BH from bits 15:8).
std::uint64_t register_value(Vcpu& guest, const MmioInstruction& in) {
    std::uint64_t v = read_gpr(guest, in.reg);
    if (in.high_byte) v >>= 8;
    return in.size == 8 ? v : v & ((1ull << (8 * in.size)) - 1);
}

// Writes `value` to the register operand as a MOV of register_size bytes does: 32-bit results
// zero-extend into 64, 8- and 16-bit ones leave the rest of the register alone.
void set_register(Vcpu& guest, const MmioInstruction& in, std::uint64_t value) {
    const std::uint64_t old = read_gpr(guest, in.reg);
    std::uint64_t result = value;
    if (in.high_byte) {
        result = (old & ~0xff00ull) | ((value & 0xff) << 8);
    } else if (in.register_size < 4) {
        const std::uint64_t mask = (1ull << (8 * in.register_size)) - 1;
        result = (old & ~mask) | (value & mask);
    } else if (in.register_size == 4) {
        result = value & 0xffffffffull;
    }
    write_gpr(guest, in.reg, result);
}

ExitOutcome stop_undecoded(Vcpu& guest, std::uint64_t gpa, const std::uint8_t* bytes, std::size_t n) {
    FixedText<sizeof(GuestStop::detail)> text;
    text.str("APIC page access at guest-physical ").hex(gpa).str(" by an instruction not emulated (bytes");
    for (std::size_t i = 0; i < n && i < 8; ++i) text.chr(' ').hex(bytes[i]);
    text.chr(')');
    stop_guest(guest, StopReason::ept_violation, exit_reason::ept_violation, text.c_str());
    guest.stop.address = gpa;
    return ExitOutcome::stopped;
}

} // namespace

ExitOutcome handle_apic_access(Vcpu& guest, std::uint64_t gpa) {
    const auto cs_rights = static_cast<std::uint32_t>(vmcs::read(Field::guest_cs_access_rights));
    const bool long_mode = (cs_rights & segment_ar::l) != 0;
    std::uint8_t bytes[max_instruction_length] = {};
    const std::size_t n = fetch_instruction(guest, long_mode, bytes);
    MmioInstruction in;
    if (!decode_mmio(bytes, n, long_mode, (cs_rights & segment_ar::db) != 0, &in)) return stop_undecoded(guest, gpa, bytes, n);
    PcPlatform& pc = *guest.pc;
    ++pc.counters.apic_accesses;
    Lapic& apic = pc.lapic;
    const std::uint64_t now = guest_tsc_now(guest);
    const auto offset = static_cast<std::uint32_t>(gpa - x2apic::default_base);
    // Registers are 32 bits at 16-byte boundaries: a narrower read takes its bytes of the
    // register; a narrower write has no defined effect and is dropped.
    const std::uint32_t reg = offset & ~3u, shift = 8 * (offset & 3u);
    MsrAccess done = MsrAccess::done;
    switch (in.kind) {
    case MmioKind::load: set_register(guest, in, apic.mmio_read(reg, now) >> shift); break;
    case MmioKind::store_register:
    case MmioKind::store_immediate: {
        const std::uint64_t v = in.kind == MmioKind::store_immediate ? in.immediate : register_value(guest, in);
        if (in.size >= 4 && shift == 0) done = apic.mmio_write(reg, static_cast<std::uint32_t>(v), now);
        break;
    }
    case MmioKind::exchange: {
        const std::uint32_t old = apic.mmio_read(reg, now) >> shift;
        if (in.size >= 4 && shift == 0) done = apic.mmio_write(reg, static_cast<std::uint32_t>(register_value(guest, in)), now);
        set_register(guest, in, old);
        break;
    }
    }
    advance_rip_by(in.length);
    if (done == MsrAccess::timer) {
        if (apic.timer_armed()) ++pc.counters.timer_armed;
        return ExitOutcome::timer_changed; // the run loop tells the scheduler
    }
    return ExitOutcome::resume;
}

} // namespace vmx
