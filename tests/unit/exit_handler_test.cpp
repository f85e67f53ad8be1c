#include "vmx/exits/exit_handler.hpp"

#include <doctest/doctest.h>
#include <cstring>
#include <string>
#include <vector>

#include "fake_vmcs.hpp"
#include "vmx/exits/exit_helpers.hpp"
#include "guest/runtime/abi.hpp"
#include "vmx/guest/guest_paging.hpp"
#include "vmx/guest/guest_layout.hpp"
#include "vmx/arch/interruption.hpp"

using testing_support::FakeVmcs;
using vmx::ExitOutcome;
using vmx::Field;

namespace {

using Fixture = testing_support::ExitFixture;

} // namespace

TEST_CASE("exit handler: the preemption timer ends the slice without touching the guest") {
    Fixture f;
    CHECK(f.exit(vmx::exit_reason::preemption_timer) == ExitOutcome::preempted);
    CHECK(f.vmcs.get(Field::guest_rip) == 0x10000);
    CHECK(f.guest.counters.exits[vmx::exit_reason::preemption_timer] == 1);
}

TEST_CASE("exit handler: trapped HLT skips the instruction and clears the STI shadow") {
    Fixture f;
    f.vmcs.set(Field::guest_interruptibility_state, vmx::interruptibility::blocking_by_sti);
    CHECK(f.exit(vmx::exit_reason::hlt, 0, 1) == ExitOutcome::halted);
    CHECK(f.vmcs.get(Field::guest_rip) == 0x10001);
    CHECK(f.vmcs.get(Field::guest_interruptibility_state) == 0);
}

TEST_CASE("exit handler: CPUID 0x40000000 gives the Metronome signature") {
    Fixture f;
    f.guest.regs.rax = 0x40000000;
    CHECK(f.exit(vmx::exit_reason::cpuid) == ExitOutcome::resume);
    char sig[13] = {};
    std::memcpy(sig, &f.guest.regs.rbx, 4);
    std::memcpy(sig + 4, &f.guest.regs.rcx, 4);
    std::memcpy(sig + 8, &f.guest.regs.rdx, 4);
    CHECK(std::string(sig) == "Metronome");
    CHECK(f.guest.regs.rax == metronome::abi::cpuid_max_leaf);
    CHECK(f.vmcs.get(Field::guest_rip) == 0x10002);
}

TEST_CASE("exit handler: CPUID leaf 1 hides VMX and MONITOR and announces a hypervisor") {
    Fixture f;
    f.guest.regs.rax = 1;
    f.exit(vmx::exit_reason::cpuid);
    CHECK((f.guest.regs.rcx & (1u << 5)) == 0);
    CHECK((f.guest.regs.rcx & (1u << 3)) == 0);
    CHECK((f.guest.regs.rcx & (1u << 31)) != 0);
    CHECK((f.guest.regs.rcx & (1u << 27)) == 0);  // guest CR4.OSXSAVE is 0
    f.vmcs.set(Field::guest_cr4, 1u << 18); // CR4.OSXSAVE, which the guest owns
    f.guest.regs.rax = 1;
    f.exit(vmx::exit_reason::cpuid);
    CHECK((f.guest.regs.rcx & (1u << 27)) != 0);
    // A stale read shadow does not count for a bit the guest owns: Linux clears OSXSAVE without
    // an exit when it gives up on XSAVE, and user space must not then be told to use XGETBV.
    f.vmcs.set(Field::cr4_read_shadow, 1u << 18);
    f.vmcs.set(Field::guest_cr4, 0);
    f.guest.regs.rax = 1;
    f.exit(vmx::exit_reason::cpuid);
    CHECK((f.guest.regs.rcx & (1u << 27)) == 0);
    f.guest.regs.rax = 7;
    f.guest.regs.rcx = 0;
    f.exit(vmx::exit_reason::cpuid);
    CHECK(f.guest.regs.rbx == 0x11111111u);  // other leaves pass through
}

TEST_CASE("exit handler: CPUID 0x40000001..3 answer the guest's capacity, zero beyond") {
    Fixture f;
    f.guest.capacity.policy = 1;  // fixed
    f.guest.capacity.flags = 1;   // HLT yields
    f.guest.capacity.share_ppm = 250000;
    f.guest.capacity.guests = 4;
    f.guest.capacity.slice_us = 1000;
    f.guest.capacity.frame_us = 4000;
    f.guest.capacity.slice_ticks = 1000000;
    f.guest.capacity.frame_ticks = 0x100000000ull + 7;
    f.guest.regs.rax = 0x40000001;
    CHECK(f.exit(vmx::exit_reason::cpuid) == ExitOutcome::resume);
    CHECK(f.guest.regs.rax == 250000);
    CHECK(f.guest.regs.rbx == 1);
    CHECK(f.guest.regs.rcx == 1);
    CHECK(f.guest.regs.rdx == 4);
    CHECK(f.vmcs.get(Field::guest_rip) == 0x10002);
    f.guest.regs.rax = 0x40000002;
    f.exit(vmx::exit_reason::cpuid);
    CHECK(f.guest.regs.rax == 1000);
    CHECK(f.guest.regs.rbx == 4000);
    CHECK(f.guest.regs.rcx == 0);
    f.guest.regs.rax = 0x40000003;
    f.exit(vmx::exit_reason::cpuid);
    CHECK(f.guest.regs.rax == 1000000);
    CHECK(f.guest.regs.rbx == 0);
    CHECK(f.guest.regs.rcx == 7);
    CHECK(f.guest.regs.rdx == 1);
    f.guest.regs.rax = metronome::abi::cpuid_max_leaf + 1;
    f.guest.regs.rbx = 5;
    f.exit(vmx::exit_reason::cpuid);
    CHECK(f.guest.regs.rax == 0);
    CHECK(f.guest.regs.rbx == 0);  // not the real CPU's answer (the fake's EBX is 0x11111111)
}

TEST_CASE("exit handler: capacity leaves read zero when the session gave no capacity") {
    Fixture f;
    f.guest.regs.rax = 0x40000001;
    f.guest.regs.rcx = 9;
    f.exit(vmx::exit_reason::cpuid);
    CHECK(f.guest.regs.rax == 0);
    CHECK(f.guest.regs.rcx == 0);
}

TEST_CASE("exit handler: console port bytes become prefixed lines") {
    Fixture f;
    for (char c : std::string("hi\n")) {
        f.guest.regs.rax = static_cast<unsigned char>(c);
        f.exit(vmx::exit_reason::io_instruction, f.io(0xe9, 1, false), 1);
    }
    REQUIRE(f.platform.lines.size() == 1);
    CHECK(f.platform.lines[0] == "g: hi");
    CHECK(f.guest.counters.io_writes_dropped == 0);
}

TEST_CASE("exit handler: other ports read all ones and drop writes, counted") {
    Fixture f;
    f.guest.regs.rax = 0x1234567812345678ull;
    f.exit(vmx::exit_reason::io_instruction, f.io(0x3f8, 1, true), 1);
    CHECK(f.guest.regs.rax == 0x12345678123456ffull);
    f.exit(vmx::exit_reason::io_instruction, f.io(0x60, 2, true), 1);
    CHECK(f.guest.regs.rax == 0x123456781234ffffull);
    f.exit(vmx::exit_reason::io_instruction, f.io(0xcfc, 4, true), 1);
    CHECK(f.guest.regs.rax == 0xffffffffull);
    f.exit(vmx::exit_reason::io_instruction, f.io(0x3f8, 1, false), 1);
    CHECK(f.guest.counters.io_reads_all_ones == 3);
    CHECK(f.guest.counters.io_writes_dropped == 1);
    CHECK(f.platform.lines.empty());
}

TEST_CASE("exit handler: REP OUTSB to the console reads guest memory through its page tables") {
    Fixture f;
    std::memcpy(&f.memory[0x20000], "rep\n", 4);
    f.guest.regs.rsi = 0x20000;
    f.guest.regs.rcx = 4;
    const std::uint64_t q = f.io(0xe9, 1, false) | 0x10u | 0x20u;
    CHECK(f.exit(vmx::exit_reason::io_instruction, q, 2) == ExitOutcome::resume);
    REQUIRE(f.platform.lines.size() == 1);
    CHECK(f.platform.lines[0] == "g: rep");
    CHECK(f.guest.regs.rcx == 0);
    CHECK(f.guest.regs.rsi == 0x20004);
    CHECK(f.vmcs.get(Field::guest_rip) == 0x10002);
}

TEST_CASE("exit handler: INSB at an unmapped linear address is a #PF with CR2 and the error code") {
    Fixture f;
    f.guest.regs.rdi = 0x40000000;  // not mapped by the guest's tables
    const std::uint64_t q = f.io(0x60, 1, true) | 0x10u;
    f.exit(vmx::exit_reason::io_instruction, q, 1);
    CHECK(f.injected_vector() == vmx::vector::pf);
    CHECK(f.vmcs.get(Field::entry_exception_error_code) == vmx::page_fault_error::write);
    CHECK(f.guest.regs.cr2 == 0x40000000);
    CHECK(f.vmcs.get(Field::guest_rip) == 0x10000);
    CHECK(f.guest.stop.reason == vmx::StopReason::none);
}

TEST_CASE("exit handler: REP INSB across the end of memory does the elements inside, then faults") {
    const std::uint64_t q = testing_support::ExitFixture::io(0x60, 1, true) | 0x10u | 0x20u;
    SUBCASE("identity-mapped: the linear address past the end is not mapped, #PF with CR2") {
        Fixture f;
        const std::uint64_t end = f.memory.size();
        f.guest.regs.rdi = end - 4;
        f.guest.regs.rcx = 8;
        CHECK(f.exit(vmx::exit_reason::io_instruction, q, 2) == ExitOutcome::resume);
        CHECK(f.injected_vector() == vmx::vector::pf);
        CHECK(f.guest.regs.cr2 == end);
        CHECK(f.memory[end - 1] == 0xff); // the four elements inside memory were done
        CHECK(f.guest.regs.rcx == 4);
        CHECK(f.guest.regs.rdi == end);
    }
    SUBCASE("the guest's own table maps the next 2 MiB to the GPAs past its memory: EPT violation") {
        Fixture f;
        const std::uint64_t end = f.memory.size();
        const std::uint64_t pde = end | 0x83; // PD[1]: linear 2 MiB -> GPA 2 MiB (outside)
        std::memcpy(&f.memory[0x3008], &pde, 8);
        f.guest.regs.rdi = end - 4;
        f.guest.regs.rcx = 8;
        CHECK(f.exit(vmx::exit_reason::io_instruction, q, 2) == ExitOutcome::stopped);
        CHECK(f.guest.stop.reason == vmx::StopReason::ept_violation);
        CHECK(f.guest.stop.address == end);
        CHECK(std::string(f.guest.stop.detail).find("EPT violation: write at guest-physical 0x200000") == 0);
        CHECK(f.memory[end - 1] == 0xff);
        CHECK(f.guest.regs.rcx == 4);
        CHECK(f.injected_vector() == 0xff); // no exception: the guest is stopped, as by the EPT
    }
}

TEST_CASE("exit handler: OUTSB through the guest's own page table to a GPA beyond memory is an EPT violation") {
    Fixture f;
    // PD[1] (linear 2 MiB) -> a 2 MiB page at GPA 1 GiB, far outside the 2 MiB of memory.
    const std::uint64_t pde = (1ull << 30) | 0x83;
    std::memcpy(&f.memory[0x3008], &pde, 8);
    f.guest.regs.rsi = 0x200010;
    const std::uint64_t q = f.io(0xe9, 1, false) | 0x10u;
    CHECK(f.exit(vmx::exit_reason::io_instruction, q, 1) == ExitOutcome::stopped);
    CHECK(f.guest.stop.reason == vmx::StopReason::ept_violation);
    CHECK(f.guest.stop.address == (1ull << 30) + 0x10);
    CHECK(std::string(f.guest.stop.detail).find("EPT violation: read at") == 0);
}

TEST_CASE("exit handler: a page table that lies outside memory is an EPT violation on the walk") {
    Fixture f;
    const std::uint64_t pdpte = (1ull << 32) | 0x3; // PDPT[1] -> a page directory at 4 GiB
    std::memcpy(&f.memory[0x2008], &pdpte, 8);
    f.guest.regs.rdi = 1ull << 30;
    const std::uint64_t q = f.io(0x60, 1, true) | 0x10u;
    CHECK(f.exit(vmx::exit_reason::io_instruction, q, 1) == ExitOutcome::stopped);
    CHECK(f.guest.stop.reason == vmx::StopReason::ept_violation);
    CHECK(f.guest.stop.address == (1ull << 32));
    CHECK(std::string(f.guest.stop.detail).find("EPT violation: read at") == 0);
}

TEST_CASE("exit handler: INS into a read-only page is a #PF with the present bit; non-canonical is #GP") {
    Fixture f;
    std::uint64_t pde = 0;
    std::memcpy(&pde, &f.memory[0x3000], 8);
    pde &= ~std::uint64_t{2}; // the first 2 MiB read-only; CR0.WP = 1
    std::memcpy(&f.memory[0x3000], &pde, 8);
    f.guest.regs.rdi = 0x20000;
    const std::uint64_t q = f.io(0x60, 1, true) | 0x10u;
    f.exit(vmx::exit_reason::io_instruction, q, 1);
    CHECK(f.injected_vector() == vmx::vector::pf);
    CHECK(f.vmcs.get(Field::entry_exception_error_code) ==
          (vmx::page_fault_error::present | vmx::page_fault_error::write));

    Fixture g;
    g.guest.regs.rdi = 0x0000800000000000ull;
    g.exit(vmx::exit_reason::io_instruction, q, 1);
    CHECK(g.injected_vector() == vmx::vector::gp);
}

TEST_CASE("exit handler: addr32 REP INSL counts ECX and wraps EDI, and an exit costs one walk a page") {
    Fixture f;
    f.memory[0x10000] = 0x67; // addr32
    f.memory[0x10001] = 0xf3; // rep
    f.memory[0x10002] = 0x6d; // insl
    f.guest.regs.rcx = 0xdead0000ffffffffull; // the upper half is not part of the count
    f.guest.regs.rdi = 0xbeef000000020000ull;
    const std::uint64_t q = f.io(0x60, 4, true) | 0x10u | 0x20u;
    CHECK(f.exit(vmx::exit_reason::io_instruction, q, 3) == ExitOutcome::resume);
    // 16 elements of 4 bytes; the 32-bit registers are written back zero-extended.
    CHECK(f.guest.regs.rcx == 0xffffffffull - vmx::string_io_elements_per_exit);
    CHECK(f.guest.regs.rdi == 0x20000 + 4 * vmx::string_io_elements_per_exit);
    CHECK(f.vmcs.get(Field::guest_rip) == 0x10000); // not done: re-executed
    CHECK(f.memory[0x20000 + 4 * vmx::string_io_elements_per_exit - 1] == 0xff);
}

TEST_CASE("exit handler: REP OUTSB with RFLAGS.TF = 1 does one element per exit, then traps") {
    Fixture f;
    std::memcpy(&f.memory[0x20000], "ab\n", 3);
    f.guest.regs.rsi = 0x20000;
    f.guest.regs.rcx = 3;
    f.vmcs.set(Field::guest_rflags, 0x302);
    const std::uint64_t q = f.io(0xe9, 1, false) | 0x10u | 0x20u;
    f.exit(vmx::exit_reason::io_instruction, q, 2);
    CHECK(f.guest.regs.rcx == 2);
    CHECK(f.vmcs.get(Field::guest_rip) == 0x10000);
    f.exit(vmx::exit_reason::io_instruction, q, 2);
    f.exit(vmx::exit_reason::io_instruction, q, 2);
    CHECK(f.guest.regs.rcx == 0);
    CHECK(f.vmcs.get(Field::guest_rip) == 0x10002);
    CHECK((f.vmcs.get(Field::guest_pending_debug_exceptions) & vmx::pending_debug::single_step) != 0);
    REQUIRE(f.platform.lines.size() == 1);
    CHECK(f.platform.lines[0] == "g: ab");
}

TEST_CASE("exit handler: VMCALL yield, console and unknown numbers") {
    Fixture f;
    f.guest.regs.rax = static_cast<std::uint64_t>(metronome::abi::Hypercall::yield);
    CHECK(f.exit(vmx::exit_reason::vmcall, 0, 3) == ExitOutcome::yielded);
    CHECK(f.guest.regs.rax == 0);
    std::memcpy(&f.memory[0x30000], "from vmcall\n", 12);
    f.guest.regs.rax = static_cast<std::uint64_t>(metronome::abi::Hypercall::console_write);
    f.guest.regs.rbx = 0x30000;
    f.guest.regs.rcx = 12;
    CHECK(f.exit(vmx::exit_reason::vmcall, 0, 3) == ExitOutcome::resume);
    REQUIRE(f.platform.lines.size() == 1);
    CHECK(f.platform.lines[0] == "g: from vmcall");
    f.guest.regs.rax = 77;
    f.exit(vmx::exit_reason::vmcall, 0, 3);
    CHECK(f.guest.regs.rax == metronome::abi::hypercall_unknown);
    CHECK(f.guest.counters.hypercalls == 3);
}

TEST_CASE("exit handler: console hypercall with a buffer outside guest memory is refused") {
    Fixture f;
    f.guest.regs.rax = static_cast<std::uint64_t>(metronome::abi::Hypercall::console_write);
    f.guest.regs.rbx = f.memory.size() - 4;
    f.guest.regs.rcx = 8;
    f.exit(vmx::exit_reason::vmcall, 0, 3);
    CHECK(f.guest.regs.rax == metronome::abi::hypercall_bad_argument);
    f.guest.regs.rax = static_cast<std::uint64_t>(metronome::abi::Hypercall::console_write);
    f.guest.regs.rbx = ~0ull - 2;
    f.guest.regs.rcx = 8;
    f.exit(vmx::exit_reason::vmcall, 0, 3);
    CHECK(f.guest.regs.rax == metronome::abi::hypercall_bad_argument);
    CHECK(f.platform.lines.empty());
}

TEST_CASE("exit handler: powerdown stops the guest with its code") {
    Fixture f;
    f.guest.regs.rax = static_cast<std::uint64_t>(metronome::abi::Hypercall::powerdown);
    f.guest.regs.rbx = 7;
    CHECK(f.exit(vmx::exit_reason::vmcall, 0, 3) == ExitOutcome::stopped);
    CHECK(f.guest.stop.reason == vmx::StopReason::powerdown);
    CHECK(f.guest.stop.code == 7);
    CHECK(std::string(f.guest.stop.detail) == "powered down (code 7)");
}

TEST_CASE("exit handler: triple fault and EPT violation stop the guest with the facts") {
    Fixture f;
    CHECK(f.exit(vmx::exit_reason::triple_fault) == ExitOutcome::stopped);
    CHECK(f.guest.stop.reason == vmx::StopReason::triple_fault);
    Fixture g;
    g.vmcs.set(Field::guest_physical_address, 0x200000);
    CHECK(g.exit(vmx::exit_reason::ept_violation, 0x2) == ExitOutcome::stopped);
    CHECK(g.guest.stop.reason == vmx::StopReason::ept_violation);
    CHECK(g.guest.stop.address == 0x200000);
    CHECK(std::string(g.guest.stop.detail).find("write at guest-physical 0x200000") != std::string::npos);
    Fixture h;
    h.exit(vmx::exit_reason::ept_violation, 0x4);
    CHECK(std::string(h.guest.stop.detail).find("instruction fetch") != std::string::npos);
}

TEST_CASE("exit handler: VMX instructions in a guest get #UD") {
    for (std::uint16_t r : {vmx::exit_reason::vmxon, vmx::exit_reason::vmread, vmx::exit_reason::invept,
                            vmx::exit_reason::vmlaunch, vmx::exit_reason::vmptrld}) {
        Fixture f;
        CHECK(f.exit(r) == ExitOutcome::resume);
        const auto d = vmx::decode_interruption_info(static_cast<std::uint32_t>(f.vmcs.get(Field::entry_interruption_info)));
        CHECK(d.valid);
        CHECK(d.type == vmx::InterruptionType::hardware_exception);
        CHECK(d.vector == vmx::vector::ud);
        CHECK(f.vmcs.get(Field::guest_rip) == 0x10000);  // faults do not advance RIP
        CHECK(f.guest.counters.ud_injected == 1);
    }
}

TEST_CASE("exit handler: MSRs outside the switched set give #GP with error code 0") {
    Fixture f;
    f.guest.regs.rcx = 0x3a;
    CHECK(f.exit(vmx::exit_reason::wrmsr) == ExitOutcome::resume);
    const auto d = vmx::decode_interruption_info(static_cast<std::uint32_t>(f.vmcs.get(Field::entry_interruption_info)));
    CHECK(d.vector == vmx::vector::gp);
    CHECK(d.has_error_code);
    CHECK(f.vmcs.get(Field::entry_exception_error_code) == 0);
}

TEST_CASE("exit handler: a write of a hypervisor-switched MSR goes to the CPU and the guest's Vcpu") {
    Fixture f;
    f.guest.regs.rcx = vmx::msr::ia32_lstar;
    f.guest.regs.rdx = 0xffffffffu;       // EDX:EAX = 0xffffffff81000000: canonical
    f.guest.regs.rax = 0x81000000u;
    CHECK_FALSE(f.guest.syscall_msrs_nonzero); // as at reset: a switch to it compares none of them
    CHECK(f.exit(vmx::exit_reason::wrmsr, 0, 2) == ExitOutcome::resume);
    CHECK(f.guest.switched.msrs.lstar == 0xffffffff81000000ull);
    CHECK(f.guest.syscall_msrs_nonzero);
    REQUIRE(f.platform.msr_writes.size() == 1);
    CHECK(f.platform.msr_writes[0].msr == vmx::msr::ia32_lstar);
    CHECK(f.platform.msr_writes[0].value == 0xffffffff81000000ull);
    CHECK(f.vmcs.get(Field::guest_rip) == 0x10002);
    CHECK(f.vmcs.get(Field::entry_interruption_info) == 0);
    // STAR takes any value; so do a Linux guest's writes (the same path, before its PC).
    Fixture g;
    g.guest.regs.rcx = vmx::msr::ia32_star;
    g.guest.regs.rdx = 0x00230010u;
    g.guest.regs.rax = 0;
    CHECK(g.exit(vmx::exit_reason::wrmsr, 0, 2) == ExitOutcome::resume);
    CHECK(g.guest.switched.msrs.star == 0x0023001000000000ull);
    // A write of 0 leaves them all 0.
    Fixture z;
    z.guest.regs.rcx = vmx::msr::ia32_fmask;
    z.guest.regs.rdx = 0;
    z.guest.regs.rax = 0;
    CHECK(z.exit(vmx::exit_reason::wrmsr, 0, 2) == ExitOutcome::resume);
    CHECK_FALSE(z.guest.syscall_msrs_nonzero);
}

TEST_CASE("exit handler: switched MSRs refuse what the CPU refuses, and are not written then") {
    struct Case {
        std::uint32_t msr;
        std::uint64_t value;
    };
    for (const Case c : {Case{vmx::msr::ia32_lstar, 0x0000800000000000ull},        // not canonical
                         Case{vmx::msr::ia32_lstar, 0x1234567812345678ull},        // not canonical
                         Case{vmx::msr::ia32_fmask, 0x100000000ull},                 // reserved 63:32
                         Case{vmx::msr::ia32_tsc_aux, 0x100000000ull}}) {
        Fixture f;
        f.guest.regs.rcx = c.msr;
        f.guest.regs.rdx = c.value >> 32;
        f.guest.regs.rax = c.value & 0xffffffffu;
        CHECK(f.exit(vmx::exit_reason::wrmsr, 0, 2) == ExitOutcome::resume);
        const auto d = vmx::decode_interruption_info(static_cast<std::uint32_t>(f.vmcs.get(Field::entry_interruption_info)));
        CHECK(d.vector == vmx::vector::gp);
        CHECK(f.platform.msr_writes.empty());
        CHECK(f.vmcs.get(Field::guest_rip) == 0x10000);
        CHECK(f.guest.switched.msrs.lstar == 0);
        CHECK(f.guest.switched.msrs.fmask == 0);
        CHECK_FALSE(f.guest.syscall_msrs_nonzero);
    }
    // TSC_AUX on a CPU without RDTSCP does not exist.
    Fixture f;
    f.platform.has_tsc_aux = false;
    f.guest.regs.rcx = vmx::msr::ia32_tsc_aux;
    f.guest.regs.rax = 1;
    f.exit(vmx::exit_reason::wrmsr, 0, 2);
    CHECK(vmx::decode_interruption_info(static_cast<std::uint32_t>(f.vmcs.get(Field::entry_interruption_info))).vector == vmx::vector::gp);
    CHECK(f.guest.switched.msrs.tsc_aux == 0);
}

TEST_CASE("exit handler: external interrupts are acknowledged and never reach the guest") {
    Fixture f;
    f.vmcs.set(Field::exit_interruption_info, 0x80000068u);
    CHECK(f.exit(vmx::exit_reason::external_interrupt) == ExitOutcome::resume);
    CHECK(f.platform.end_of_interrupts == 1);
    CHECK(f.vmcs.get(Field::entry_interruption_info) == 0);
    CHECK(f.guest.counters.host_interrupts == 1);
}

TEST_CASE("exit handler: a failed VM entry is decoded") {
    Fixture f;
    f.vmcs.set(Field::exit_reason, 0x80000021u);
    f.vmcs.set(Field::exit_qualification, 4);
    CHECK(f.handle() == ExitOutcome::stopped);
    CHECK(f.guest.stop.reason == vmx::StopReason::entry_failure);
    CHECK(std::string(f.guest.stop.detail) ==
          "VM entry failed: VM-entry failure due to invalid guest state: invalid VMCS link pointer");
}

TEST_CASE("exit handler: an exit without an answer stops only that guest, decoded") {
    Fixture f;
    CHECK(f.exit(vmx::exit_reason::task_switch, 0x1234) == ExitOutcome::stopped);
    CHECK(f.guest.stop.reason == vmx::StopReason::unhandled_exit);
    CHECK(std::string(f.guest.stop.detail) == "unhandled exit: task switch (reason 9), qualification 0x1234");
}

TEST_CASE("exit handler: CR4.VMXE cannot be set by a guest, other CR4 bits pass") {
    Fixture f;
    f.vmcs.set(Field::cr4_guest_host_mask, 1u << 13);
    f.vmcs.set(Field::guest_cr4, (1u << 13) | (1u << 5));
    f.guest.regs.rbx = (1u << 13) | (1u << 5);
    f.exit(vmx::exit_reason::control_register_access, 4u | (3u << 8), 3);
    auto d = vmx::decode_interruption_info(static_cast<std::uint32_t>(f.vmcs.get(Field::entry_interruption_info)));
    CHECK(d.vector == vmx::vector::gp);
    Fixture g;
    g.vmcs.set(Field::cr4_guest_host_mask, 1u << 13);
    g.vmcs.set(Field::guest_cr4, (1u << 13) | (1u << 5));
    g.guest.regs.rbx = (1u << 5) | (1u << 7);
    g.exit(vmx::exit_reason::control_register_access, 4u | (3u << 8), 3);
    CHECK(g.vmcs.get(Field::guest_cr4) == ((1u << 13) | (1u << 5) | (1u << 7)));
    CHECK(g.vmcs.get(Field::cr4_read_shadow) == ((1u << 5) | (1u << 7)));
    CHECK(g.vmcs.get(Field::guest_rip) == 0x10003);
}

TEST_CASE("exit handler: XSETBV validates XCR0 against the CPU") {
    Fixture f;
    f.vmcs.set(Field::guest_cr4, 1u << 18); // CR4.OSXSAVE, which the guest owns
    f.guest.regs.rax = 0x7;  // x87 | SSE | AVX
    f.guest.regs.rcx = 0;
    f.exit(vmx::exit_reason::xsetbv, 0, 3);
    CHECK(f.guest.xcr0 == 0x7);
    CHECK(f.vmcs.get(Field::entry_interruption_info) == 0);
    f.guest.regs.rax = 0x5;  // AVX without SSE: invalid
    f.exit(vmx::exit_reason::xsetbv, 0, 3);
    CHECK(f.guest.xcr0 == 0x7);
    CHECK(f.guest.counters.gp_injected == 1);
    Fixture g;  // CR4.OSXSAVE clear: #UD
    g.guest.regs.rax = 0x3;
    g.exit(vmx::exit_reason::xsetbv, 0, 3);
    CHECK(g.guest.counters.ud_injected == 1);
}

TEST_CASE("exit handler: console lines longer than the buffer are split, bytes sanitised") {
    Fixture f;
    for (int i = 0; i < 130; ++i) vmx::console_put(f.guest, 'x');
    vmx::console_put(f.guest, '\x07');
    vmx::console_put(f.guest, '\n');
    REQUIRE(f.platform.lines.size() == 2);
    CHECK(f.platform.lines[0].size() == 2 + 1 + 120);
    CHECK(f.platform.lines[1] == "g: xxxxxxxxxx?");
}

TEST_CASE("exit handler: an emulated instruction with RFLAGS.TF = 1 leaves its single-step trap pending") {
    Fixture f;
    f.vmcs.set(vmx::Field::guest_rflags, 0x302); // IF | TF
    f.guest.regs.rax = 0;
    CHECK(f.exit(vmx::exit_reason::cpuid) == ExitOutcome::resume);
    CHECK(f.vmcs.get(vmx::Field::guest_rip) == 0x10002);
    CHECK((f.vmcs.get(vmx::Field::guest_pending_debug_exceptions) & vmx::pending_debug::single_step) != 0);

    Fixture plain;
    plain.guest.regs.rax = 0;
    CHECK(plain.exit(vmx::exit_reason::cpuid) == ExitOutcome::resume);
    CHECK(plain.vmcs.get(vmx::Field::guest_pending_debug_exceptions) == 0);
}

TEST_CASE("exit handler: a trapped HLT with RFLAGS.TF = 1 does not halt: its #DB is due at once") {
    Fixture f;
    f.vmcs.set(vmx::Field::guest_rflags, 0x302);
    CHECK(f.exit(vmx::exit_reason::hlt, 0, 1) == ExitOutcome::resume);
    CHECK(f.vmcs.get(vmx::Field::guest_rip) == 0x10001);
    CHECK((f.vmcs.get(vmx::Field::guest_pending_debug_exceptions) & vmx::pending_debug::single_step) != 0);
}

TEST_CASE("exit handler: a 4 KiB console write is done a bounded piece per exit, resumed like a REP") {
    Fixture f;
    for (std::size_t i = 0; i < 4096; ++i) f.memory[0x30000 + i] = (i % 64 == 63) ? '\n' : 'x';
    f.guest.regs.rax = static_cast<std::uint64_t>(metronome::abi::Hypercall::console_write);
    f.guest.regs.rbx = 0x30000;
    f.guest.regs.rcx = 4096;
    unsigned exits = 0;
    while (f.vmcs.get(Field::guest_rip) == 0x10000 && exits < 1000) {
        CHECK(f.exit(vmx::exit_reason::vmcall, 0, 3) == ExitOutcome::resume);
        ++exits;
        if (f.vmcs.get(Field::guest_rip) == 0x10000) {
            // Not done: the VMCALL is executed again with the rest of the buffer.
            CHECK(f.guest.regs.rax == static_cast<std::uint64_t>(metronome::abi::Hypercall::console_write));
            CHECK(f.guest.regs.rbx == 0x30000 + exits * metronome::abi::console_write_bytes_per_exit);
        }
    }
    CHECK(exits == 4096 / metronome::abi::console_write_bytes_per_exit);
    CHECK(f.guest.regs.rax == metronome::abi::hypercall_ok);
    CHECK(f.guest.regs.rbx == 0x30000 + 4096);
    CHECK(f.guest.regs.rcx == 0);
    CHECK(f.vmcs.get(Field::guest_rip) == 0x10003);
    CHECK(f.platform.lines.size() == 64);
    CHECK(f.guest.counters.hypercalls == exits);
}

TEST_CASE("exit handler: console lines a full queue refuses are dropped and counted for that guest") {
    Fixture f;
    f.platform.console_capacity = 1;
    std::memcpy(&f.memory[0x30000], "one\ntwo\nthree\n", 14);
    f.guest.regs.rax = static_cast<std::uint64_t>(metronome::abi::Hypercall::console_write);
    f.guest.regs.rbx = 0x30000;
    f.guest.regs.rcx = 14;
    f.exit(vmx::exit_reason::vmcall, 0, 3);
    REQUIRE(f.platform.lines.size() == 1);
    CHECK(f.guest.counters.console_lines_dropped == 2);
    CHECK(f.guest.counters.console_bytes_dropped == 4 + 6);
}

TEST_CASE("exit handler: no performance counters: RDPMC is #GP, CPUID leaf 0xA is zero, PDCM hidden") {
    Fixture f;
    f.guest.regs.rcx = 0;
    CHECK(f.exit(vmx::exit_reason::rdpmc) == ExitOutcome::resume);
    CHECK(f.injected_vector() == vmx::vector::gp);
    CHECK(f.vmcs.get(Field::guest_rip) == 0x10000);
    Fixture leaf;
    leaf.guest.regs.rax = 0xa;
    leaf.exit(vmx::exit_reason::cpuid);
    CHECK(leaf.guest.regs.rax == 0);
    CHECK(leaf.guest.regs.rbx == 0);
    CHECK(leaf.guest.regs.rcx == 0);
    CHECK(leaf.guest.regs.rdx == 0);
    Fixture one;
    one.guest.regs.rax = 1;
    one.exit(vmx::exit_reason::cpuid);
    CHECK((one.guest.regs.rcx & (1u << 15)) == 0);
}
