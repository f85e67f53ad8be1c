// INS and OUTS, with or without REP, emulated as the processor runs them (SDM "INS/INSB/INSW/
// INSD—Input from Port to String", "OUTS/OUTSB/OUTSW/OUTSD—Output String to Port"): the address
// size and segment from the instruction's prefixes, the count in RCX/ECX/CX, the pointer in
// RDI (ES) or RSI (DS or an override), the direction from RFLAGS.DF, every element through the
// guest's page tables with its permissions. What goes wrong is answered as the processor would:
// a non-canonical address is #GP(0), a missing or forbidden page is #PF with CR2, and a
// guest-physical address outside the guest's memory (a paging structure or the buffer) is an EPT
// violation that stops the guest. Elements done before a fault stay done, with RCX and the
// pointer counted as far as they got, as an interrupted REP leaves them.
//
// One exit does at most string_io_elements_per_exit elements (one with RFLAGS.TF = 1, which
// traps after every iteration); a longer REP continues by re-entering at the same instruction,
// so no exit runs long. The page of the last element is remembered within the exit, so a run of
// elements costs one walk per page, not one per byte.
#include "vmx/arch/interruption.hpp"
#include "vmx/arch/segments.hpp"
#include "vmx/arch/x86.hpp"
#include "vmx/exits/exit_helpers.hpp"
#include "vmx/exits/mmio_decode.hpp"
#include "vmx/guest/guest_paging.hpp"
#include "vmx/vmcs/vmcs_access.hpp"

namespace vmx {
namespace {

enum class Segment : std::uint8_t { es, cs, ss, ds, fs, gs };

struct StringOp {
    unsigned address_bits = 64;
    Segment segment = Segment::ds; // OUTS only; INS always writes ES:rDI
};

// The instruction's legacy prefixes: 0x67 switches the address size, 0x26/0x2E/0x36/0x3E/0x64/
// 0x65 override the segment of OUTS. Read from guest memory at RIP, as fetched; if that cannot
// be read the defaults stand (the processor just fetched those bytes, so it can).
StringOp decode(const Vcpu& guest, bool long_mode, bool default32,
                const WalkAccess& fetch) {
    StringOp op;
    op.address_bits = long_mode ? 64 : (default32 ? 32 : 16);
    std::uint8_t bytes[max_instruction_length];
    const std::uint64_t length = vmcs::read(Field::exit_instruction_length);
    const std::size_t prefixes = length > 1 ? (length - 1 < sizeof bytes ? length - 1 : sizeof bytes) : 0;
    const std::size_t n = read_guest_linear(guest.memory, guest.memory_size, true, vmcs::read(Field::guest_cr3),
                                            vmcs::read(Field::guest_rip), fetch, bytes, prefixes);
    bool size_prefix = false;
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t b = bytes[i];
        if (b == 0x67) {
            size_prefix = true;
        } else if (b == 0x26) {
            op.segment = Segment::es;
        } else if (b == 0x2e) {
            op.segment = Segment::cs;
        } else if (b == 0x36) {
            op.segment = Segment::ss;
        } else if (b == 0x3e) {
            op.segment = Segment::ds;
        } else if (b == 0x64) {
            op.segment = Segment::fs;
        } else if (b == 0x65) {
            op.segment = Segment::gs;
        } else if (b != 0x66 && b != 0xf2 && b != 0xf3 && (b & 0xf0u) != 0x40u) {
            break; // the opcode (0x6C-0x6F)
        }
    }
    if (size_prefix) op.address_bits = op.address_bits == 64 ? 32 : (op.address_bits == 32 ? 16 : 32);
    return op;
}

// In 64-bit mode only FS and GS have a base (SDM "Segmentation in IA-32e Mode").
std::uint64_t segment_base(Segment s, bool long_mode) {
    switch (s) {
    case Segment::fs: return vmcs::read(Field::guest_fs_base);
    case Segment::gs: return vmcs::read(Field::guest_gs_base);
    case Segment::es: return long_mode ? 0 : vmcs::read(Field::guest_es_base);
    case Segment::cs: return long_mode ? 0 : vmcs::read(Field::guest_cs_base);
    case Segment::ss: return long_mode ? 0 : vmcs::read(Field::guest_ss_base);
    case Segment::ds: return long_mode ? 0 : vmcs::read(Field::guest_ds_base);
    }
    return 0;
}

// A register as an address of `bits` bits, and the write-back rules: a 32-bit result
// zero-extends into the whole register, a 16-bit one keeps the upper 48 bits.
std::uint64_t mask_for(unsigned bits) { return bits == 64 ? ~0ull : (1ull << bits) - 1; }
std::uint64_t merged(std::uint64_t old, std::uint64_t value, unsigned bits) {
    if (bits == 16) return (old & ~0xffffull) | (value & 0xffffu);
    return value & mask_for(bits);
}

// Translation of one linear page, remembered for the elements that follow in the same exit.
struct PageCache {
    std::uint64_t linear_page = ~0ull;
    std::uint64_t physical_page = 0;
};

} // namespace

ExitOutcome handle_string_io(Vcpu& guest, const IoExit& io) {
    const std::uint64_t rflags = vmcs::read(Field::guest_rflags);
    const auto cs_rights = static_cast<std::uint32_t>(vmcs::read(Field::guest_cs_access_rights));
    const auto ss_rights = static_cast<std::uint32_t>(vmcs::read(Field::guest_ss_access_rights));
    const bool long_mode = (cs_rights & segment_ar::l) != 0;
    WalkAccess access;
    access.user = ((ss_rights >> 5) & 3u) == 3u; // CPL = SS.DPL
    access.write_protect = (vmcs::read(Field::guest_cr0) & cr0::wp) != 0;
    WalkAccess fetch = access;
    fetch.fetch = true;
    const StringOp op = decode(guest, long_mode, (cs_rights & segment_ar::db) != 0, fetch);
    access.write = io.in;

    const std::uint64_t mask = mask_for(op.address_bits);
    const std::uint64_t base = segment_base(io.in ? Segment::es : op.segment, long_mode);
    const std::uint64_t cr3 = vmcs::read(Field::guest_cr3);
    const bool down = (rflags & rflags::df) != 0;
    std::uint64_t& pointer_reg = io.in ? guest.regs.rdi : guest.regs.rsi;
    std::uint64_t pointer = pointer_reg & mask;
    std::uint64_t remaining = io.rep ? (guest.regs.rcx & mask) : 1;
    const std::uint64_t budget = (rflags & rflags::tf) != 0 ? 1 : string_io_elements_per_exit;
    PageCache cache;
    auto commit = [&]() {
        pointer_reg = merged(pointer_reg, pointer, op.address_bits);
        if (io.rep) guest.regs.rcx = merged(guest.regs.rcx, remaining, op.address_bits);
    };

    for (std::uint64_t done = 0; remaining > 0 && done < budget; ++done) {
        std::uint64_t value = 0;
        for (unsigned b = 0; b < io.size; ++b) {
            // Segment arithmetic wraps at the address size outside 64-bit mode.
            const std::uint64_t offset = (pointer + b) & mask;
            const std::uint64_t linear = long_mode ? base + offset : (base + offset) & 0xffffffffu;
            std::uint64_t physical = 0;
            if ((linear & ~(guest_page_size - 1)) == cache.linear_page) {
                physical = cache.physical_page | (linear & (guest_page_size - 1));
            } else {
                const GuestWalk w = walk_guest_page_tables(guest.memory, guest.memory_size, cr3, linear, access);
                if (!w.ok()) {
                    commit();
                    switch (w.fault) {
                    case WalkFault::not_canonical:
                        inject_exception(guest, vector::gp, 0);
                        return ExitOutcome::resume;
                    case WalkFault::page_fault:
                        inject_page_fault(guest, linear, w.error_code);
                        return ExitOutcome::resume;
                    case WalkFault::outside_memory:
                    case WalkFault::none:
                        break;
                    }
                    // A paging-structure read, or the buffer access itself, outside memory.
                    const GuestAccess kind = w.paging_structure || !io.in ? GuestAccess::read : GuestAccess::write;
                    return stop_for_ept_violation(guest, w.physical, kind, kind == GuestAccess::write ? 2u : 1u);
                }
                physical = w.physical;
                cache.linear_page = linear & ~(guest_page_size - 1);
                cache.physical_page = physical & ~(guest_page_size - 1);
            }
            if (io.in) {
                guest.memory[physical] = static_cast<std::uint8_t>(floating_bus);
            } else {
                value |= static_cast<std::uint64_t>(guest.memory[physical]) << (8 * b);
            }
        }
        if (io.in) {
            ++guest.counters.io_reads_all_ones;
        } else {
            if (io_out_value(guest, io.port, value, io.size)) return stop_for_reset(guest, io.port, value);
        }
        pointer = (down ? pointer - io.size : pointer + io.size) & mask;
        --remaining;
    }
    commit();
    if (remaining == 0) advance_rip();
    return ExitOutcome::resume;
}

} // namespace vmx
