// The decoder of instructions on device registers (vmx/exits/mmio_decode.hpp), over the forms
// Linux's accessors compile to and the encodings' corners: ModR/M and SIB lengths, displacements,
// REX, 66, immediates, byte registers, and what it must refuse.
#include <doctest/doctest.h>

#include <initializer_list>
#include <vector>

#include "vmx/exits/mmio_decode.hpp"

using vmx::MmioKind;

namespace {

vmx::MmioInstruction decode64(std::initializer_list<std::uint8_t> bytes, bool* ok = nullptr) {
    const std::vector<std::uint8_t> b(bytes);
    vmx::MmioInstruction in;
    const bool decoded = vmx::decode_mmio(b.data(), b.size(), true, true, &in);
    if (ok != nullptr) *ok = decoded;
    else REQUIRE(decoded);
    return in;
}

bool refused64(std::initializer_list<std::uint8_t> bytes) {
    bool ok = true;
    decode64(bytes, &ok);
    return !ok;
}

} // namespace

TEST_CASE("mmio decode: Linux's native_apic_mem_read and _write: mov with disp32 and with a base register") {
    // mov eax, [rdi + 0xffffffffff5fd0b0]: 8b 87 disp32
    vmx::MmioInstruction in = decode64({0x8b, 0x87, 0xb0, 0xd0, 0x5f, 0xff});
    CHECK(in.kind == MmioKind::load);
    CHECK(in.size == 4);
    CHECK(in.reg == 0);
    CHECK(in.length == 6);
    // mov [0xffffffffff5fd0b0], eax: absolute through SIB without base (8b/89 04 25 disp32)
    in = decode64({0x89, 0x04, 0x25, 0xb0, 0xd0, 0x5f, 0xff});
    CHECK(in.kind == MmioKind::store_register);
    CHECK(in.length == 7);
    // mov [rdx], ecx
    in = decode64({0x89, 0x0a});
    CHECK(in.reg == 1);
    CHECK(in.length == 2);
    // xchg [rip + disp32], esi (the 11AP erratum's form)
    in = decode64({0x87, 0x35, 0, 0, 0, 0});
    CHECK(in.kind == MmioKind::exchange);
    CHECK(in.reg == 6);
}

TEST_CASE("mmio decode: displacements, SIB with base, REX.R and REX.W, 66") {
    CHECK(decode64({0x8b, 0x44, 0x24, 0x10}).length == 4);             // [rsp + disp8]: SIB + disp8
    CHECK(decode64({0x8b, 0x84, 0x24, 1, 2, 3, 4}).length == 7);       // [rsp + disp32]
    CHECK(decode64({0x8b, 0x45, 0x08}).length == 3);                   // [rbp + disp8]
    CHECK(decode64({0x8b, 0x04, 0x8d, 1, 2, 3, 4}).length == 7);       // [rcx*4 + disp32]: no base
    const vmx::MmioInstruction r = decode64({0x44, 0x8b, 0x00});      // mov r8d, [rax]
    CHECK(r.reg == 8);
    CHECK(r.size == 4);
    const vmx::MmioInstruction w = decode64({0x48, 0x89, 0x10});      // mov [rax], rdx
    CHECK(w.size == 8);
    CHECK(w.reg == 2);
    const vmx::MmioInstruction h = decode64({0x66, 0x89, 0x10});      // mov [rax], dx
    CHECK(h.size == 2);
    CHECK(h.length == 3);
    const vmx::MmioInstruction s = decode64({0x3e, 0xf0, 0x89, 0x10}); // prefixes before it
    CHECK(s.length == 4);
}

TEST_CASE("mmio decode: immediates (C6, C7, sign-extended with REX.W) and MOVZX") {
    vmx::MmioInstruction in = decode64({0xc7, 0x05, 0, 0, 0, 0, 0x78, 0x56, 0x34, 0x12});
    CHECK(in.kind == MmioKind::store_immediate);
    CHECK(in.immediate == 0x12345678u);
    CHECK(in.length == 10);
    in = decode64({0x48, 0xc7, 0x00, 0xff, 0xff, 0xff, 0xff});
    CHECK(in.size == 8);
    CHECK(in.immediate == ~0ull);
    in = decode64({0xc6, 0x40, 0x01, 0x7f});
    CHECK(in.size == 1);
    CHECK(in.immediate == 0x7f);
    CHECK(in.length == 4);
    in = decode64({0x0f, 0xb7, 0x08});                                 // movzx ecx, word [rax]
    CHECK(in.kind == MmioKind::load);
    CHECK(in.size == 2);
    CHECK(in.register_size == 4);
    CHECK(in.reg == 1);
}

TEST_CASE("mmio decode: byte registers: AH..BH without REX, SPL..DIL with it") {
    vmx::MmioInstruction in = decode64({0x8a, 0x20});                  // mov ah, [rax]
    CHECK(in.high_byte);
    CHECK(in.reg == 0);
    in = decode64({0x40, 0x8a, 0x20});                                 // mov spl, [rax]
    CHECK_FALSE(in.high_byte);
    CHECK(in.reg == 4);
}

TEST_CASE("mmio decode: refused: other opcodes, register operands, C7 /1, truncated bytes") {
    CHECK(refused64({0x01, 0x05, 0, 0, 0, 0}));   // add
    CHECK(refused64({0x89, 0xc0}));               // mov eax, eax: no memory operand
    CHECK(refused64({0xc7, 0x08, 0, 0, 0, 0}));   // C7 /1
    CHECK(refused64({0x8b, 0x87, 0xb0}));         // disp32 cut short
    CHECK(refused64({0x66, 0x66}));               // prefixes only
    CHECK(refused64({}));
    // 15 bytes at most: 14 prefixes and the opcode leave no room for ModR/M.
    CHECK(refused64({0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x8b, 0x00}));
}

TEST_CASE("mmio decode: 32-bit code: no REX (0x48 is an opcode), 16-bit addressing with 67") {
    const std::uint8_t dec[] = {0x48, 0x89, 0x00};
    vmx::MmioInstruction in;
    CHECK_FALSE(vmx::decode_mmio(dec, sizeof dec, false, true, &in));
    const std::uint8_t a16[] = {0x67, 0x8b, 0x06, 0x34, 0x12};        // mov eax, [0x1234]
    REQUIRE(vmx::decode_mmio(a16, sizeof a16, false, true, &in));
    CHECK(in.length == 5);
    const std::uint8_t real[] = {0x8b, 0x07};                          // 16-bit code: mov ax, [bx]
    REQUIRE(vmx::decode_mmio(real, sizeof real, false, false, &in));
    CHECK(in.size == 2);
}
