#include "vmx/arch/interruption.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <string>

using vmx::InterruptionType;
namespace act = vmx::activity;
namespace ib = vmx::interruptibility;

static_assert(vmx::inject_external_interrupt(0x20) == 0x80000020u);
static_assert(vmx::inject_nmi() == 0x80000202u);
static_assert(vmx::inject_hardware_exception(vmx::vector::gp) == 0x80000b0du);
static_assert(vmx::inject_hardware_exception(vmx::vector::pf) == 0x80000b0eu);
static_assert(vmx::inject_hardware_exception(vmx::vector::df) == 0x80000b08u);
static_assert(vmx::inject_hardware_exception(vmx::vector::ud) == 0x80000306u);
static_assert(vmx::interruption_info(InterruptionType::software_interrupt, 0x80, false) == 0x80000480u);
static_assert(vmx::decode_interruption_info(0x80000b0eu).has_error_code);
static_assert(vmx::decode_interruption_info(0x80000b0eu).type == InterruptionType::hardware_exception);

namespace {

constexpr std::uint64_t if_on = vmx::rflags_if | 0x2;
constexpr std::uint64_t if_off = 0x2;

std::string verdict(std::uint32_t info, std::uint32_t state, std::uint32_t blocking,
                    std::uint64_t rflags) {
    const char* reason = nullptr;
    if (vmx::injection_allowed(info, state, blocking, rflags, &reason)) return "allowed";
    REQUIRE(reason != nullptr);
    return reason;
}

std::uint32_t other_event_mtf() { return vmx::interruption_info(InterruptionType::other_event, 0, false); }

} // namespace

TEST_CASE("exactly #DF #TS #NP #SS #GP #PF #AC #CP push an error code") {
    std::uint32_t with_code = 0;
    for (unsigned v = 0; v < 32; ++v)
        if (vmx::exception_has_error_code(static_cast<std::uint8_t>(v))) with_code |= 1u << v;
    CHECK(with_code == ((1u << 8) | (1u << 10) | (1u << 11) | (1u << 12) | (1u << 13) |
                        (1u << 14) | (1u << 17) | (1u << 21)));
    for (unsigned v = 0; v < 32; ++v) {
        const auto d = vmx::decode_interruption_info(vmx::inject_hardware_exception(static_cast<std::uint8_t>(v)));
        CHECK(d.has_error_code == (((with_code >> v) & 1) != 0));
    }
}

TEST_CASE("vector constants have their architectural numbers") {
    using namespace vmx::vector;
    CHECK(de == 0);
    CHECK(db == 1);
    CHECK(bp == 3);
    CHECK(of == 4);
    CHECK(br == 5);
    CHECK(nm == 7);
    CHECK(mf == 16);
    CHECK(mc == 18);
    CHECK(xm == 19);
    CHECK(ve == 20);
    CHECK(cp == 21);
}

TEST_CASE("encode and decode round-trip for every type and vector") {
    const InterruptionType types[] = {
        InterruptionType::external_interrupt, InterruptionType::nmi,
        InterruptionType::hardware_exception, InterruptionType::software_interrupt,
        InterruptionType::privileged_software_exception, InterruptionType::software_exception,
        InterruptionType::other_event};
    for (InterruptionType t : types) {
        for (unsigned v = 0; v < 256; v += 17) {
            for (bool code : {false, true}) {
                const std::uint32_t info = vmx::interruption_info(t, static_cast<std::uint8_t>(v), code);
                const vmx::DecodedInterruption d = vmx::decode_interruption_info(info);
                CHECK(d.valid);
                CHECK(d.type == t);
                CHECK(d.vector == v);
                CHECK(d.has_error_code == code);
                CHECK_FALSE(d.nmi_unblocking_due_to_iret);
            }
        }
    }
    // A VM-exit interruption info: #PF with error code and NMI unblocking due to IRET.
    const vmx::DecodedInterruption exit = vmx::decode_interruption_info(0x80001b0eu);
    CHECK(exit.nmi_unblocking_due_to_iret);
    CHECK(exit.vector == vmx::vector::pf);
    CHECK_FALSE(vmx::decode_interruption_info(0x00000b0eu).valid);
    CHECK(std::strcmp(vmx::interruption_type_name(InterruptionType::nmi), "NMI") == 0);
    CHECK(std::strcmp(vmx::interruption_type_name(static_cast<InterruptionType>(1)), "reserved") == 0);
}

TEST_CASE("external interrupts need RFLAGS.IF and no interrupt shadow") {
    const std::uint32_t irq = vmx::inject_external_interrupt(0x30);
    CHECK(verdict(irq, act::active, 0, if_on) == "allowed");
    CHECK(verdict(irq, act::active, 0, if_off) == "an external interrupt needs RFLAGS.IF=1");
    CHECK(verdict(irq, act::active, ib::blocking_by_sti, if_on) ==
          "an external interrupt cannot be injected in an STI/MOV-SS shadow");
    CHECK(verdict(irq, act::active, ib::blocking_by_mov_ss, if_on) ==
          "an external interrupt cannot be injected in an STI/MOV-SS shadow");
    // Blocking by NMI does not block an external interrupt.
    CHECK(verdict(irq, act::active, ib::blocking_by_nmi, if_on) == "allowed");
}

TEST_CASE("a halted guest takes only interrupts, NMI, #DB, #MC and MTF") {
    CHECK(verdict(vmx::inject_external_interrupt(0x30), act::hlt, 0, if_on) == "allowed");
    CHECK(verdict(vmx::inject_nmi(), act::hlt, 0, if_off) == "allowed");
    CHECK(verdict(vmx::inject_hardware_exception(vmx::vector::db), act::hlt, 0, if_on) == "allowed");
    CHECK(verdict(vmx::inject_hardware_exception(vmx::vector::mc), act::hlt, 0, if_on) == "allowed");
    CHECK(verdict(other_event_mtf(), act::hlt, 0, if_on) == "allowed");
    const std::string refused = "in HLT only external interrupts, NMI, #DB, #MC or MTF may be injected";
    CHECK(verdict(vmx::inject_hardware_exception(vmx::vector::gp), act::hlt, 0, if_on) == refused);
    CHECK(verdict(vmx::inject_hardware_exception(vmx::vector::ud), act::hlt, 0, if_on) == refused);
    CHECK(verdict(vmx::interruption_info(InterruptionType::software_interrupt, 0x80, false),
                  act::hlt, 0, if_on) == refused);
    // INT1 is a privileged software exception with vector 1, not the hardware #DB.
    CHECK(verdict(vmx::interruption_info(InterruptionType::privileged_software_exception, 1, false),
                  act::hlt, 0, if_on) == refused);
    // Even in HLT an external interrupt needs IF.
    CHECK(verdict(vmx::inject_external_interrupt(0x30), act::hlt, 0, if_off) ==
          "an external interrupt needs RFLAGS.IF=1");
}

TEST_CASE("shutdown takes NMI and #MC only; wait-for-SIPI takes nothing") {
    CHECK(verdict(vmx::inject_nmi(), act::shutdown, 0, if_on) == "allowed");
    CHECK(verdict(vmx::inject_hardware_exception(vmx::vector::mc), act::shutdown, 0, if_on) == "allowed");
    CHECK(verdict(vmx::inject_external_interrupt(0x30), act::shutdown, 0, if_on) ==
          "in shutdown only NMI or #MC may be injected");
    CHECK(verdict(vmx::inject_nmi(), act::wait_for_sipi, 0, if_on) ==
          "nothing may be injected in wait-for-SIPI");
    CHECK(verdict(vmx::inject_nmi(), 4, 0, if_on) == "activity state out of range (0-3)");
    // No injection at all is always fine.
    CHECK(verdict(0, act::wait_for_sipi, 0, if_off) == "allowed");
    CHECK(verdict(0x00000b0du, act::wait_for_sipi, 0, if_off) == "allowed");
}

TEST_CASE("malformed interruption information is refused") {
    CHECK(verdict(vmx::inject_nmi() | (1u << 12), act::active, 0, if_on) ==
          "interruption information bits 30:12 must be 0");
    CHECK(verdict(0x80000120u, act::active, 0, if_on) == "interruption type 1 is reserved");
    CHECK(verdict(vmx::interruption_info(InterruptionType::nmi, 3, false), act::active, 0, if_on) ==
          "an injected NMI must use vector 2");
    CHECK(verdict(vmx::interruption_info(InterruptionType::hardware_exception, 32, false),
                  act::active, 0, if_on) == "a hardware exception needs a vector below 32");
    CHECK(verdict(vmx::interruption_info(InterruptionType::other_event, 1, false), act::active, 0,
                  if_on) == "'other event' (pending MTF) must use vector 0");
    CHECK(verdict(vmx::interruption_info(InterruptionType::hardware_exception, vmx::vector::gp, false),
                  act::active, 0, if_on) == "deliver-error-code clear for an exception that pushes one");
    CHECK(verdict(vmx::interruption_info(InterruptionType::hardware_exception, vmx::vector::ud, true),
                  act::active, 0, if_on) == "deliver-error-code set for an event that pushes no error code");
    CHECK(verdict(vmx::interruption_info(InterruptionType::external_interrupt, 0x30, true),
                  act::active, 0, if_on) == "deliver-error-code set for an event that pushes no error code");
    // #CP: right either way, depending on CET.
    for (bool code : {false, true})
        CHECK(verdict(vmx::interruption_info(InterruptionType::hardware_exception, vmx::vector::cp, code),
                      act::active, 0, if_on) == "allowed");
    CHECK(verdict(vmx::inject_hardware_exception(vmx::vector::pf), act::active, 0, if_off) == "allowed");
}

TEST_CASE("an NMI is refused in an interrupt shadow but not with IF=0") {
    CHECK(verdict(vmx::inject_nmi(), act::active, 0, if_off) == "allowed");
    CHECK(verdict(vmx::inject_nmi(), act::active, ib::blocking_by_mov_ss, if_on) ==
          "an NMI cannot be injected with blocking by MOV SS");
    CHECK(verdict(vmx::inject_nmi(), act::active, ib::blocking_by_sti, if_on) ==
          "an NMI cannot be injected with blocking by STI");
}

TEST_CASE("interruptibility, activity and RFLAGS must agree") {
    const auto check = [](std::uint32_t state, std::uint32_t blocking, std::uint64_t rflags) {
        const char* reason = nullptr;
        return vmx::guest_interruptibility_valid(state, blocking, rflags, &reason)
                   ? std::string("valid")
                   : std::string(reason);
    };
    CHECK(check(act::active, 0, if_off) == "valid");
    CHECK(check(act::hlt, ib::blocking_by_nmi, if_on) == "valid");
    CHECK(check(act::active, ib::blocking_by_sti, if_on) == "valid");
    CHECK(check(act::active, ib::blocking_by_sti, if_off) == "blocking by STI requires RFLAGS.IF=1");
    CHECK(check(act::active, ib::blocking_by_sti | ib::blocking_by_mov_ss, if_on) ==
          "blocking by STI and by MOV SS cannot both be set");
    CHECK(check(act::hlt, ib::blocking_by_mov_ss, if_on) ==
          "an STI/MOV-SS interrupt shadow requires the active state");
    CHECK(check(act::active, ib::blocking_by_smi, if_on) == "blocking by SMI is only valid in SMM");
    CHECK(check(act::active, 1u << 5, if_on) == "interruptibility-state bits 31:5 must be 0");
    CHECK(check(7, 0, if_on) == "activity state out of range (0-3)");
}
