// The instructions a guest may use on memory-mapped device registers, decoded from their bytes
// (SDM Vol. 2 "Instruction Format": legacy prefixes, REX, opcode, ModR/M, SIB, displacement,
// immediate). An EPT violation gives the guest-physical address but not the instruction's length
// or its data, so the handler needs what this returns: the direction, the size, the register or
// immediate, and where the next instruction starts. The address itself is not computed: the
// processor already did (the exit's guest-physical address).
//
// Decoded: MOV r/m,r and r,r/m (88, 89, 8A, 8B), MOV r/m,imm (C6 /0, C7 /0), XCHG r/m,r (86, 87),
// MOVZX (0F B6, 0F B7), with 66 (operand size), REX (64-bit mode: W, R; B and X only move the
// address), segment overrides, 67 (address size) and LOCK. Linux's readl/writel and its xAPIC
// accessors (native_apic_mem_read/write: mov, or xchg on CPUs with the 11AP erratum) compile to
// these. Anything else is refused, and the caller stops the guest with the bytes in the report.
// Pure: host-tested.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vmx {

enum class MmioKind : std::uint8_t {
    load,            // register <- memory (zero_extend: MOVZX)
    store_register,  // memory <- register
    store_immediate, // memory <- immediate
    exchange,        // both: memory <- register, register <- old memory
};

struct MmioInstruction {
    MmioKind kind = MmioKind::load;
    unsigned size = 4;          // bytes moved to or from memory: 1, 2, 4 or 8
    unsigned register_size = 4; // the register's width (MOVZX: wider than size)
    unsigned reg = 0;           // SDM register number 0..15 (ModR/M.reg with REX.R)
    bool high_byte = false;     // size 1 without REX, reg 4..7: AH, CH, DH, BH (reg is then 0..3)
    std::uint64_t immediate = 0;
    unsigned length = 0;        // bytes of the instruction: RIP advances by this much
};

// The longest x86 instruction.
inline constexpr std::size_t max_instruction_length = 15;

// Decodes `available` bytes fetched at the guest's RIP. `long_mode`: 64-bit code (REX exists);
// `default32`: the code segment's default operand size is 32 bits (CS.D, or 64-bit mode).
// False when the instruction is none of the above or does not touch memory.
bool decode_mmio(const std::uint8_t* bytes, std::size_t available, bool long_mode, bool default32,
                 MmioInstruction* out);

} // namespace vmx
