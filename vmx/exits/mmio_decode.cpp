#include "vmx/exits/mmio_decode.hpp"

namespace vmx {
namespace {

struct Cursor {
    const std::uint8_t* bytes;
    std::size_t available;
    std::size_t at = 0;
    bool next(std::uint8_t* b) {
        if (at >= available || at >= max_instruction_length) return false;
        *b = bytes[at++];
        return true;
    }
    bool skip(std::size_t n) {
        if (at + n > available || at + n > max_instruction_length) return false;
        at += n;
        return true;
    }
};

// The bytes after ModR/M that name the memory operand (SIB, displacement), SDM Vol. 2 "32-Bit
// Addressing Forms with the ModR/M Byte" (64-bit mode and 67 keep that form; RIP-relative is
// mod 00, r/m 101 with a disp32). 16-bit addressing (67 outside 64-bit and 32-bit code, or no 67
// in 16-bit code) has its own table. False for a register operand (mod 11).
bool skip_memory_operand(Cursor& c, std::uint8_t modrm, bool address16) {
    const unsigned mod = modrm >> 6, rm = modrm & 7u;
    if (mod == 3) return false;
    if (address16) {
        if (mod == 0) return rm == 6 ? c.skip(2) : true;
        return c.skip(mod == 1 ? 1 : 2);
    }
    if (rm == 4) {
        std::uint8_t sib = 0;
        if (!c.next(&sib)) return false;
        if (mod == 0 && (sib & 7u) == 5) return c.skip(4);
    }
    if (mod == 0) return rm == 5 ? c.skip(4) : true;
    return c.skip(mod == 1 ? 1 : 4);
}

bool read_immediate(Cursor& c, unsigned size, std::uint64_t* value) {
    std::uint64_t v = 0;
    for (unsigned i = 0; i < size; ++i) {
        std::uint8_t b = 0;
        if (!c.next(&b)) return false;
        v |= static_cast<std::uint64_t>(b) << (8 * i);
    }
    *value = v;
    return true;
}

} // namespace

bool decode_mmio(const std::uint8_t* bytes, std::size_t available, bool long_mode, bool default32,
                 MmioInstruction* out) {
    Cursor c{bytes, available};
    bool operand16 = false, address_prefix = false;
    std::uint8_t rex = 0, b = 0;
    for (;;) {
        if (!c.next(&b)) return false;
        if (b == 0x66) operand16 = true;
        else if (b == 0x67) address_prefix = true;
        else if (b == 0xf0 || b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e || b == 0x64 || b == 0x65) continue;
        else break;
        rex = 0; // a REX prefix counts only right before the opcode
    }
    if (long_mode && (b & 0xf0u) == 0x40) {
        rex = b;
        if (!c.next(&b)) return false;
    }
    const bool rex_w = (rex & 8u) != 0;
    // The operand size of a non-byte opcode: REX.W is 64; otherwise 66 switches the default
    // (32 in 32- and 64-bit code, 16 in 16-bit code) to the other one.
    const unsigned full = long_mode || default32 ? (rex_w ? 8u : operand16 ? 2u : 4u) : (operand16 ? 4u : 2u);
    const bool address16 = long_mode ? false : (default32 == address_prefix);
    MmioInstruction in;
    bool immediate = false;
    bool two_byte = false;
    if (b == 0x0f) {
        two_byte = true;
        if (!c.next(&b)) return false;
    }
    if (two_byte) {
        if (b != 0xb6 && b != 0xb7) return false;
        in.kind = MmioKind::load;
        in.size = b == 0xb6 ? 1 : 2;
        in.register_size = full;
    } else {
        switch (b) {
        case 0x88: case 0x89: in.kind = MmioKind::store_register; break;
        case 0x8a: case 0x8b: in.kind = MmioKind::load; break;
        case 0x86: case 0x87: in.kind = MmioKind::exchange; break;
        case 0xc6: case 0xc7: in.kind = MmioKind::store_immediate; immediate = true; break;
        default: return false;
        }
        in.size = (b & 1u) == 0 ? 1 : full;
        in.register_size = in.size;
    }
    std::uint8_t modrm = 0;
    if (!c.next(&modrm)) return false;
    const unsigned reg = (modrm >> 3 & 7u) | ((rex & 4u) != 0 ? 8u : 0u);
    if (immediate && (modrm >> 3 & 7u) != 0) return false; // C6/C7 /0 only
    if (!skip_memory_operand(c, modrm, address16)) return false;
    if (immediate) {
        // The immediate is at most 32 bits; with REX.W it is sign-extended to 64.
        const unsigned bytes_of_immediate = in.size == 8 ? 4 : in.size;
        if (!read_immediate(c, bytes_of_immediate, &in.immediate)) return false;
        if (in.size == 8 && (in.immediate & 0x80000000ull) != 0) in.immediate |= 0xffffffff00000000ull;
    } else {
        in.reg = reg;
        // Byte registers 4..7 without any REX are AH, CH, DH, BH (SDM "Register Encodings
        // Associated with the REX Prefix").
        if (in.register_size == 1 && rex == 0 && reg >= 4 && reg <= 7) {
            in.high_byte = true;
            in.reg = reg - 4;
        }
    }
    in.length = static_cast<unsigned>(c.at);
    *out = in;
    return true;
}

} // namespace vmx
