// The guest state that the VMCS does not hold and the entry/exit path switches by hand.
// The layout of GuestRegisters is shared with vmx/hw/vm_entry.S: keep the offsets in step
// (the static_asserts below pin them).
#pragma once
#include <cstddef>
#include <cstdint>

namespace vmx {

struct GuestRegisters {
    std::uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp;
    std::uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    std::uint64_t cr2;
};

static_assert(offsetof(GuestRegisters, rax) == 0x00);
static_assert(offsetof(GuestRegisters, rdi) == 0x28);
static_assert(offsetof(GuestRegisters, r8) == 0x38);
static_assert(offsetof(GuestRegisters, r15) == 0x70);
static_assert(offsetof(GuestRegisters, cr2) == 0x78);

// Register number as the SDM encodes it in exit qualifications and instruction information
// (0 = RAX ... 15 = R15). RSP (4) lives in the VMCS: callers handle it before asking here.
inline std::uint64_t* gpr_by_number(GuestRegisters& r, unsigned number) {
    switch (number) {
    case 0: return &r.rax;
    case 1: return &r.rcx;
    case 2: return &r.rdx;
    case 3: return &r.rbx;
    case 5: return &r.rbp;
    case 6: return &r.rsi;
    case 7: return &r.rdi;
    case 8: return &r.r8;
    case 9: return &r.r9;
    case 10: return &r.r10;
    case 11: return &r.r11;
    case 12: return &r.r12;
    case 13: return &r.r13;
    case 14: return &r.r14;
    case 15: return &r.r15;
    default: return nullptr;
    }
}

} // namespace vmx
