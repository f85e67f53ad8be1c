// The fast path (vmx::exit_fast): which exits it resumes at once and which it hands to the run
// loop, the root-mode ticks it books, the timer it re-arms, and the full reload it asks for.
#include "vmx/exits/exit_handler.hpp"

#include <doctest/doctest.h>

#include "fake_vmcs.hpp"
#include "guest/runtime/abi.hpp"
#include "vmx/vmcs/preemption_timer.hpp"

using vmx::ExitOutcome;
using vmx::Field;

namespace {

// The fixture with a TSC that advances a tick a read and a deadline far ahead.
struct Fast : testing_support::ExitFixture {
    Fast() {
        platform.now = 10000;
        guest.fast.deadline = 1000000;
    }
    int take(std::uint16_t reason, std::uint64_t length = 2) {
        vmcs.set(Field::exit_reason, reason);
        vmcs.set(Field::exit_instruction_length, length);
        vmcs.make_current();
        return vmx::exit_fast(guest);
    }
    // REP INSB to an address the guest's page tables do not map: the handler injects #PF with
    // that address in CR2, and the way back to the guest reloads every register and CR2 (2).
    void take_rep_insb_unmapped() {
        constexpr std::uint64_t unmapped = 0x7fff00000000ull;
        guest.regs.rdi = unmapped;
        guest.regs.rcx = 4;
        guest.regs.rdx = 0x80;
        vmcs.set(Field::exit_qualification, io(0x80, 1, true) | 0x10u | 0x20u);
        CHECK(take(vmx::exit_reason::io_instruction) == 2);
        CHECK(injected_vector() == vmx::vector::pf);
        CHECK(guest.regs.cr2 == unmapped);
        CHECK(guest.fast.reload == 0);
    }
};

} // namespace

TEST_CASE("fast path: a CPUID inside the slice is resumed at once and its root-mode ticks booked") {
    Fast f;
    f.guest.regs.rax = 0;
    CHECK(f.take(vmx::exit_reason::cpuid) == 0);
    CHECK(f.vmcs.get(Field::guest_rip) == 0x10002);
    const vmx::RootTicks& t = f.guest.counters.root_ticks[vmx::exit_reason::cpuid];
    CHECK(t.count == 1);
    CHECK(t.total == 1); // two TSC reads of the fake, one tick apart
    CHECK(f.guest.fast.root_ticks == 1);
    CHECK(f.guest.counters.exits[vmx::exit_reason::cpuid] == 1);
}

TEST_CASE("fast path: without a saved timer value the timer is re-armed for the same deadline") {
    Fast f;
    f.guest.fast.rearm_after = 0;
    f.guest.fast.deadline = 10000 + 640;
    f.guest.fast.timer_rate = 5;
    CHECK(f.take(vmx::exit_reason::cpuid) == 0);
    // Read at 10002: 638 ticks left = 19.9 units of 32, rounded up.
    CHECK(f.vmcs.get(Field::vmx_preemption_timer_value) == 20);

    Fast saved;
    saved.guest.fast.rearm_after = vmx::timer_resync_ticks;
    saved.vmcs.set(Field::vmx_preemption_timer_value, 1234);
    CHECK(saved.take(vmx::exit_reason::cpuid) == 0);
    CHECK(saved.vmcs.get(Field::vmx_preemption_timer_value) == 1234);
}

namespace {
// A TSC that jumps by `step` at every read: each exit takes that long in root mode.
struct SlowTsc : testing_support::FakePlatform {
    std::uint64_t step = 1;
    std::uint64_t rdtsc() override { return now += step; }
};
} // namespace

TEST_CASE("fast path: a saved timer value is re-armed after an exit slower than the resync bound") {
    for (const std::uint64_t step : {vmx::timer_resync_ticks, vmx::timer_resync_ticks + 1}) {
        Fast f;
        SlowTsc tsc; // current from here on
        tsc.now = 10000;
        tsc.step = step;
        f.guest.fast.rearm_after = vmx::timer_resync_ticks;
        f.guest.fast.deadline = 10000 + 100000;
        f.vmcs.set(Field::vmx_preemption_timer_value, 1234);
        CHECK(f.take(vmx::exit_reason::cpuid) == 0);
        // At the second read, 10000 + 2 * step: the deadline is 100000 - 2 * step ticks away (rate 0).
        const std::uint64_t expected = step > vmx::timer_resync_ticks ? 100000 - 2 * step : 1234;
        CHECK(f.vmcs.get(Field::vmx_preemption_timer_value) == expected);
        CHECK(f.guest.fast.root_ticks == step);
    }
}

TEST_CASE("fast path: a handled exit at or past the deadline goes to the run loop") {
    Fast f;
    f.guest.fast.deadline = 10001;
    CHECK(f.take(vmx::exit_reason::cpuid) == 1);
    CHECK(f.guest.fast.outcome == static_cast<std::uint8_t>(ExitOutcome::resume));
    CHECK(f.guest.fast.reason == vmx::exit_reason::cpuid);
    CHECK(f.guest.fast.exit_tsc == 10001);
    CHECK(f.guest.counters.root_ticks[vmx::exit_reason::cpuid].count == 0); // the loop books it
}

TEST_CASE("fast path: timer, HLT, yield, stops and interrupt windows always go to the run loop") {
    {
        Fast f;
        CHECK(f.take(vmx::exit_reason::preemption_timer) == 1);
        CHECK(f.guest.fast.outcome == static_cast<std::uint8_t>(ExitOutcome::preempted));
    }
    {
        Fast f;
        CHECK(f.take(vmx::exit_reason::hlt, 1) == 1);
        CHECK(f.guest.fast.outcome == static_cast<std::uint8_t>(ExitOutcome::halted));
    }
    {
        Fast f;
        f.guest.regs.rax = static_cast<std::uint64_t>(metronome::abi::Hypercall::yield);
        CHECK(f.take(vmx::exit_reason::vmcall, 3) == 1);
        CHECK(f.guest.fast.outcome == static_cast<std::uint8_t>(ExitOutcome::yielded));
    }
    {
        Fast f;
        CHECK(f.take(vmx::exit_reason::triple_fault) == 1);
        CHECK(f.guest.fast.outcome == static_cast<std::uint8_t>(ExitOutcome::stopped));
    }
    {
        Fast f;
        CHECK(f.take(vmx::exit_reason::interrupt_window) == 1);
        CHECK(f.guest.fast.outcome == static_cast<std::uint8_t>(ExitOutcome::interrupt_window));
    }
}

TEST_CASE("fast path: an injected page fault asks for every register and CR2 to be loaded, once") {
    Fast f;
    f.take_rep_insb_unmapped();
    f.vmcs.set(Field::entry_interruption_info, 0);
    f.guest.regs.rax = 0;
    CHECK(f.take(vmx::exit_reason::cpuid) == 0);
}

TEST_CASE("fast path: a page fault injected past the deadline is delivered first, with its CR2, then the timer exits") {
    // The ways to the run loop (1) and to the next slot's guest (3) save the CPU's CR2 into the
    // Vcpu, over the one the handler set: the guest is resumed with every register and CR2 (2)
    // and a timer of 0, so the entry delivers the page fault and the guest exits at once.
    Fast f;
    f.guest.fast.deadline = 10001;
    f.vmcs.set(Field::vmx_preemption_timer_value, 1234);
    f.take_rep_insb_unmapped();
    CHECK(f.vmcs.get(Field::vmx_preemption_timer_value) == 0);
    CHECK(f.guest.counters.root_ticks[vmx::exit_reason::io_instruction].count == 1); // booked here
    // The timer exit that follows goes to the run loop as any other.
    f.vmcs.set(Field::entry_interruption_info, 0);
    CHECK(f.take(vmx::exit_reason::preemption_timer) == 1);
    CHECK(f.guest.fast.outcome == static_cast<std::uint8_t>(ExitOutcome::preempted));
}
