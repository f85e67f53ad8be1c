#include "vmx/arch/exit_reasons.hpp"

#include <doctest/doctest.h>
#include <cstring>
#include <set>
#include <string>

TEST_CASE("exit reasons have the SDM names") {
    CHECK(std::string(vmx::exit_reason_name(vmx::exit_reason::cpuid)) == "CPUID");
    CHECK(std::string(vmx::exit_reason_name(52)) == "VMX-preemption timer expired");
    CHECK(std::string(vmx::exit_reason_name(48)) == "EPT violation");
    CHECK(std::string(vmx::exit_reason_name(2)) == "triple fault");
    CHECK(std::string(vmx::exit_reason_name(35)) == "unknown exit reason");
    CHECK(std::string(vmx::exit_reason_key(30)) == "io");
}

TEST_CASE("exit reason keys are unique identifiers") {
    std::set<std::string> keys;
    for (std::uint16_t r = 0; r < vmx::exit_reason::count; ++r) {
        const std::string key = vmx::exit_reason_key(r);
        if (key == "unknown") continue;
        CHECK(key.find(' ') == std::string::npos);
        CHECK(keys.insert(key).second);
    }
    CHECK(keys.size() >= 60);
}

TEST_CASE("exit reason field flags decode") {
    const auto r = vmx::decode_exit_reason(0x80000021u);
    CHECK(r.basic == vmx::exit_reason::entry_failure_guest_state);
    CHECK(r.entry_failure);
    CHECK_FALSE(r.from_vmx_root);
    const auto t = vmx::decode_exit_reason(52);
    CHECK(t.basic == vmx::exit_reason::preemption_timer);
    CHECK_FALSE(t.entry_failure);
}

TEST_CASE("VM-instruction errors are decoded into words") {
    CHECK(std::string(vmx::vm_instruction_error_text(7)) ==
          "VM entry with invalid control field(s)");
    CHECK(std::string(vmx::vm_instruction_error_text(8)) ==
          "VM entry with invalid host-state field(s)");
    CHECK(std::string(vmx::vm_instruction_error_text(12)) ==
          "VMREAD/VMWRITE from/to unsupported VMCS component");
    CHECK(std::string(vmx::vm_instruction_error_text(28)) ==
          "invalid operand to INVEPT/INVVPID");
    CHECK(std::string(vmx::vm_instruction_error_text(14)) == "unknown VM-instruction error");
    CHECK(std::string(vmx::vm_instruction_error_text(999)) == "unknown VM-instruction error");
}

TEST_CASE("entry-failure qualifications are decoded") {
    CHECK(std::string(vmx::entry_failure_qualification_text(4)) == "invalid VMCS link pointer");
    CHECK(std::string(vmx::entry_failure_qualification_text(2)) ==
          "failure while loading the PDPTEs");
    CHECK(std::string(vmx::entry_failure_qualification_text(77)) ==
          "unknown entry-failure qualification");
}

TEST_CASE("I/O exit qualification decodes port, size and direction") {
    // OUT DX, AL with DX = 0xE9
    auto out = vmx::decode_io_exit(0x00e90000u);
    CHECK(out.port == 0xe9);
    CHECK(out.size == 1);
    CHECK_FALSE(out.in);
    // IN EAX, DX from 0xCFC: size 4 (encoded 3), direction in
    auto in = vmx::decode_io_exit((0xcfcull << 16) | 0x8u | 0x3u);
    CHECK(in.port == 0xcfc);
    CHECK(in.size == 4);
    CHECK(in.in);
    // REP OUTSB with an immediate operand flag
    auto rep = vmx::decode_io_exit((0x80ull << 16) | 0x10u | 0x20u | 0x40u);
    CHECK(rep.string);
    CHECK(rep.rep);
    CHECK(rep.immediate_operand);
}

TEST_CASE("control-register access qualification decodes") {
    // MOV CR4, RBX: cr 4, type 0, gpr 3
    const auto q = vmx::decode_cr_access(4u | (0u << 4) | (3u << 8));
    CHECK(q.cr == 4);
    CHECK(q.access_type == 0);
    CHECK(q.gpr == 3);
    const auto l = vmx::decode_cr_access(0u | (3u << 4) | (0x1234ull << 16));
    CHECK(l.access_type == 3);
    CHECK(l.lmsw_source == 0x1234);
}
