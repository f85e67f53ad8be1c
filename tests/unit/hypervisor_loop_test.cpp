// The run loop against a simulated processor: guests are scripts, the TSC is a counter, and
// each guest has its own fake VMCS. Checks what the loop programs into the VMCS and what it
// tells the scheduler, not the scheduler's policies (tests/unit/scheduler_*).
#include "vmx/run/run_loop.hpp"

#include <doctest/doctest.h>
#include <cstring>
#include <string>
#include <vector>

#include "fake_vmcs.hpp"
#include "guest/runtime/abi.hpp"
#include "vmx/arch/interruption.hpp"
#include "vmx/devices/pc.hpp"

using testing_support::FakeVmcs;
using vmx::Field;

namespace {

enum class Script { spin, cpuid_every, fail_entry, interrupts_off, halted, ready_late };

// A processor whose guests follow scripts. Entering costs `entry_cost` ticks; a spinning guest
// runs until its preemption timer reaches zero; a CPUID guest exits every `period` ticks. Each
// exit goes to the fast path (vmx::exit_fast) as vm_entry.S hands it over, and enter() returns
// at the first exit the fast path gives back to the run loop.
class FakeMachine final : public testing_support::FakePlatform {
  public:
    explicit FakeMachine(std::vector<Script> scripts) : scripts_(std::move(scripts)), vmcs_(scripts_.size()) {
        for (auto& v : vmcs_) v.set(Field::guest_rflags, 0x202);
        for (std::size_t i = 0; i < scripts_.size(); ++i) {
            if (scripts_[i] == Script::interrupts_off) vmcs_[i].set(Field::guest_rflags, 0x2);
        }
    }
    bool switch_to(vmx::Vcpu*, vmx::Vcpu& next) override {
        if (next.index == fail_switch_guest && switches >= fail_switch_after) {
            if (inside_enter_) ++failed_below;
            return false;
        }
        vmcs_[next.index].make_current();
        ++switches;
        return true;
    }
    vmx::EntryResult enter(vmx::Vcpu& entered) override {
        vmx::EntryResult r;
        vmx::Vcpu* guest = &entered;
        for (;;) {
            r.guest = guest;
            if (scripts_[guest->index] == Script::fail_entry) {
                r.vm_instruction_error = 7;
                return r;
            }
            run_until_exit(*guest);
            inside_enter_ = true;
            const int rc = vmx::exit_fast(*guest);
            inside_enter_ = false;
            if (rc == 1) break;
            if (rc == 3) {
                guest = guest->resume_next; // the next slot's guest, switched to below the run loop
                ++switches_below;
            }
        }
        r.exited = true;
        return r;
    }

    FakeVmcs& guest_vmcs(std::size_t i) { return vmcs_[i]; }
    std::uint64_t entry_cost = 50;
    std::uint64_t period = 1000;
    std::uint64_t ready_after = 50000;
    std::vector<std::uint64_t> timers;
    std::vector<std::size_t> injections;
    std::vector<std::uint64_t> activities; // the activity state of every entry
    std::uint64_t ran[8] = {};
    int switches = 0;
    int switches_below = 0; // of them, made below the run loop (exit_fast's 3)
    // switch_to(guest fail_switch_guest) fails once `switches` have been made (its VMPTRLD).
    std::size_t fail_switch_guest = ~std::size_t{0};
    int fail_switch_after = 0;
    int failed_below = 0; // switch_to failures inside exit_fast

  private:
    void run_until_exit(const vmx::Vcpu& guest) {
        FakeVmcs& v = vmcs_[guest.index];
        const std::uint64_t timer = v.get(Field::vmx_preemption_timer_value);
        timers.push_back(timer);
        const std::uint32_t injected = static_cast<std::uint32_t>(v.get(Field::entry_interruption_info));
        if ((injected & vmx::interruption_bits::valid) != 0) injections.push_back(guest.index);
        activities.push_back(v.get(Field::guest_activity_state));
        now += entry_cost;
        const std::uint64_t timer_end = now + timer;
        std::uint64_t exit_at = timer_end;
        std::uint16_t reason = vmx::exit_reason::preemption_timer;
        if (scripts_[guest.index] == Script::cpuid_every && now + period < timer_end) {
            exit_at = now + period;
            reason = vmx::exit_reason::cpuid;
        }
        // Boots for `ready_after` ticks of its own time, then makes the `ready` hypercall once.
        if (scripts_[guest.index] == Script::ready_late && !guest.ready && ran[guest.index] + timer >= ready_after) {
            exit_at = now + (ready_after - ran[guest.index]);
            reason = vmx::exit_reason::vmcall;
            const_cast<vmx::Vcpu&>(guest).regs.rax = static_cast<std::uint64_t>(metronome::abi::Hypercall::ready);
        }
        if ((v.get(Field::primary_processor_based_controls) & (1u << 2)) != 0 &&
            (v.get(Field::guest_rflags) & (1u << 9)) != 0) {
            exit_at = now;
            reason = vmx::exit_reason::interrupt_window;
        }
        // Save VMX-preemption timer value: what was left at the exit.
        v.set(Field::vmx_preemption_timer_value, timer_end > exit_at ? timer_end - exit_at : 0);
        v.set(Field::exit_reason, reason);
        v.set(Field::exit_instruction_length, 2);
        if (scripts_[guest.index] == Script::halted) v.set(Field::guest_activity_state, vmx::activity::hlt);
        v.set(Field::entry_interruption_info, 0);
        ran[guest.index] += exit_at - now;
        now = exit_at;
    }

    std::vector<Script> scripts_;
    std::vector<FakeVmcs> vmcs_;
    bool inside_enter_ = false;
};

struct Run {
    vmx::Scheduler scheduler;
    std::vector<vmx::Vcpu> guests;
    std::vector<vmx::GuestParams> params;
    std::vector<std::uint8_t> memory = std::vector<std::uint8_t>(1 << 20);

    Run(std::size_t n, vmx::Policy policy, std::uint64_t slice, std::uint64_t tick_period, std::uint64_t duration,
        vmx::OnGuestExit on_exit = vmx::OnGuestExit::reserve)
        : guests(n), params(n) {
        for (std::size_t i = 0; i < n; ++i) {
            guests[i].index = static_cast<std::uint32_t>(i);
            guests[i].name = "g";
            guests[i].memory = memory.data();
            guests[i].memory_size = memory.size();
            params[i].slice_ticks = slice;
            params[i].tick_period_ticks = tick_period;
        }
        vmx::SchedParams sp;
        sp.policy = policy;
        sp.duration_ticks = duration;
        sp.on_guest_exit = on_exit;
        REQUIRE(scheduler.init(sp, params.data(), n) == vmx::InitError::none);
    }
    // The run loop over every guest of this run, on whichever FakeMachine is the platform now.
    void go(const vmx::RunOptions& options = vmx::RunOptions{}) {
        vmx::run_guests(scheduler, guests.data(), guests.size(), options);
    }
};

} // namespace

TEST_CASE("run loop: timer values round up to the deadline and respect the rate") {
    vmx::RunOptions o;
    o.timer_rate = 5;
    CHECK(vmx::timer_value_for(100, 100 + 64, o) == 2);
    CHECK(vmx::timer_value_for(100, 100 + 65, o) == 3);
    CHECK(vmx::timer_value_for(100, 90, o) == 0);
    CHECK(vmx::timer_value_for(100, 101, o) == 1);   // one tick left: one unit, never 0
    CHECK(vmx::timer_value_for(100, 100 + 32, o) == 1);
    CHECK(vmx::timer_value_for(100, 100 + 33, o) == 2);
    CHECK(vmx::timer_value_for(1, ~0ull, o) == 0xffffffffu); // no overflow on a far deadline: the limit
    o.timer_rate = 0;
    o.timer_limit = 1000;
    CHECK(vmx::timer_value_for(0, 5000, o) == 1000);
}

TEST_CASE("run loop: two spinners split the CPU and each slice is programmed in full") {
    Run run(2, vmx::Policy::fixed, 10000, 0, 1000000);
    FakeMachine m({Script::spin, Script::spin});
    run.go();
    const auto s0 = run.scheduler.share_ppm(0), s1 = run.scheduler.share_ppm(1);
    CHECK(s0 > 480000);
    CHECK(s1 > 480000);
    CHECK(run.scheduler.guest_stats(0).slice.count >= 40);
    CHECK(run.scheduler.totals_add_up(0));
    // Every fresh slice asks for about the whole slice (minus the few ticks the loop spent).
    CHECK(m.timers.front() > 9900);
    CHECK(m.timers.front() <= 10000);
}

TEST_CASE("run loop: handled exits neither extend nor restart the slice") {
    Run run(2, vmx::Policy::fixed, 10000, 0, 200000);
    FakeMachine m({Script::cpuid_every, Script::spin});
    run.go();
    // Ten slots of 10,000 ticks, a CPUID exit every 1,000 ticks of guest time: about 9 per slot.
    CHECK(run.guests[0].counters.exits[vmx::exit_reason::cpuid] >= 80);
    const auto s0 = run.scheduler.allotted_ppm(0), s1 = run.scheduler.allotted_ppm(1);
    CHECK(s0 + 5000 > s1);
    CHECK(s1 + 5000 > s0);
    // After a CPUID exit the next timer value is what remained, never a fresh slice.
    bool saw_remainder = false;
    for (std::size_t i = 1; i < m.timers.size(); ++i) {
        if (m.timers[i] < 9000 && m.timers[i] > 0) saw_remainder = true;
    }
    CHECK(saw_remainder);
    CHECK(run.scheduler.totals_add_up(0));
}

TEST_CASE("run loop: ticks are injected when the guest can take them, else an interrupt window is armed") {
    Run run(1, vmx::Policy::fixed, 100000, 10000, 200000);
    FakeMachine m({Script::spin});
    run.go();
    CHECK(m.injections.size() >= 15);
    CHECK(run.scheduler.guest_stats(0).ticks_injected == m.injections.size());

    Run off(1, vmx::Policy::fixed, 100000, 10000, 200000);
    FakeMachine masked({Script::interrupts_off});
    off.go();
    CHECK(masked.injections.empty());
    CHECK((masked.guest_vmcs(0).get(Field::primary_processor_based_controls) & (1u << 2)) != 0);
    CHECK(off.scheduler.guest_stats(0).ticks_injected == 0);
    CHECK(off.scheduler.guest_stats(0).ticks_coalesced > 0);
}

TEST_CASE("run loop: a failed VM entry stops that guest, with the error in words, and the others run") {
    Run run(2, vmx::Policy::shared, 10000, 0, 200000, vmx::OnGuestExit::reclaim);
    FakeMachine m({Script::fail_entry, Script::spin});
    run.go();
    const auto& stop = run.guests[0].stop;
    CHECK(stop.reason == vmx::StopReason::entry_failure);
    CHECK(std::string(stop.detail) == "VMLAUNCH failed: VM entry with invalid control field(s) (VM-instruction error 7)");
    CHECK(run.scheduler.guest_stats(0).activity == vmx::Activity::dead);
    CHECK(run.scheduler.share_ppm(1) > 900000);
}

TEST_CASE("run loop: slot switches at timer exits are made below the loop, to the tick") {
    Run run(3, vmx::Policy::fixed, 10000, 0, 600000);
    FakeMachine m({Script::spin, Script::spin, Script::cpuid_every});
    run.go();
    // After the first frame (each guest launched from the loop), every slot ends at a timer exit
    // and the next one is begun by exit_fast: the loop is entered once per guest.
    CHECK(m.switches_below >= m.switches - 3);
    CHECK(m.switches_below > 50);
    CHECK(run.scheduler.run_stats().short_switches >= static_cast<std::uint64_t>(m.switches_below));
    CHECK(run.scheduler.totals_add_up(0));
    for (std::size_t g = 0; g < 3; ++g) {
        const auto& c = run.guests[g].counters;
        // Every timer exit's root-mode ticks are accounted, whichever way the switch went (the
        // last one, at the end of the run, has no next entry).
        const std::uint64_t timer_exits = c.exits[vmx::exit_reason::preemption_timer];
        CHECK(c.root_ticks[vmx::exit_reason::preemption_timer].count + 1 >= timer_exits);
        CHECK(run.scheduler.allotted_ppm(g) > 330000);
    }

    // A guest its VMCS's HOST_RSP does not name this frame for is switched to by the loop.
    Run loop(2, vmx::Policy::fixed, 10000, 0, 200000);
    FakeMachine m2({Script::spin, Script::spin});
    loop.guests[1].host_rsp = 0x1000;
    loop.go();
    CHECK(m2.switches_below == 0);
    CHECK(m2.switches >= 19);
    CHECK(loop.scheduler.totals_add_up(0));
}

TEST_CASE("run loop: the slot of a guest halted inside guest mode ends below the loop too") {
    // HLT exiting off: the guest sits in HLT until its slot's timer exit, which says so
    // (activity state HLT): the scheduler books it as a native halt, and the switch is the same.
    Run run(3, vmx::Policy::fixed, 10000, 0, 600000);
    FakeMachine m({Script::spin, Script::halted, Script::spin});
    run.go();
    CHECK(m.switches_below >= m.switches - 3);
    CHECK(m.switches_below > 50);
    CHECK(run.scheduler.totals_add_up(0));
    const vmx::GuestStats& halted = run.scheduler.guest_stats(1);
    CHECK(halted.exits[static_cast<std::size_t>(vmx::ExitCause::halted_native_at_preemption)] > 15);
    CHECK(halted.exits[static_cast<std::size_t>(vmx::ExitCause::timer)] == 0);
    CHECK(halted.activity == vmx::Activity::halted_native);
    CHECK_FALSE(halted.halted_observable);
    // Entered halted every time after its first: it never woke.
    std::size_t active_entries = 0;
    for (std::uint64_t a : m.activities) active_entries += a == vmx::activity::active;
    CHECK(active_entries < m.activities.size());
    for (std::size_t g = 0; g < 3; ++g) CHECK(run.scheduler.allotted_ppm(g) > 330000);
}

TEST_CASE("run loop: a VMPTRLD failing in a switch below the loop stops that guest; the others run on") {
    Run run(3, vmx::Policy::fixed, 10000, 0, 300000, vmx::OnGuestExit::reclaim);
    FakeMachine m({Script::spin, Script::spin, Script::spin});
    m.fail_switch_guest = 1;
    m.fail_switch_after = 6; // after two frames: from then on its switches are made below
    run.go();
    const auto& stop = run.guests[1].stop;
    CHECK(stop.reason == vmx::StopReason::hypervisor_error);
    CHECK(std::string(stop.detail) == "VMPTRLD of its VMCS failed");
    CHECK(run.scheduler.guest_stats(1).activity == vmx::Activity::dead);
    CHECK(m.failed_below == 1);
    CHECK(run.scheduler.totals_add_up(0));
    CHECK(run.scheduler.share_ppm(0) > 450000);
    CHECK(run.scheduler.share_ppm(2) > 450000);
}

namespace {

// A guest left in the HLT activity state at `rip`, with `rflags`; `before` is the byte at rip - 1.
struct HaltedGuest {
    Run run{1, vmx::Policy::fixed, 10000, 0, 30000};
    FakeMachine m{{Script::halted}};
    HaltedGuest(std::uint64_t rip, std::uint64_t rflags, std::uint8_t before, std::uint64_t pending_debug) {
        // Identity-mapped 1 MiB: one 2 MiB page at 0 (PML4 at 0x1000, PDPT 0x2000, PD 0x3000).
        auto& mem = run.memory;
        mem[0x1000] = 0x03; mem[0x1001] = 0x20;
        mem[0x2000] = 0x03; mem[0x2001] = 0x30;
        mem[0x3000] = 0x83;
        mem[rip - 1] = before;
        FakeVmcs& v = m.guest_vmcs(0);
        v.set(Field::guest_cr3, 0x1000);
        v.set(Field::guest_rip, rip);
        v.set(Field::guest_rflags, rflags);
        v.set(Field::guest_pending_debug_exceptions, pending_debug);
        run.go();
    }
};

} // namespace

TEST_CASE("run loop: a guest halted just past its HLT with interrupts off stays halted") {
    HaltedGuest h(0x50001, 0x2, 0xf4, 0);
    REQUIRE(h.m.activities.size() >= 2);
    for (std::size_t i = 1; i < h.m.activities.size(); ++i) CHECK(h.m.activities[i] == vmx::activity::hlt);
}

TEST_CASE("run loop: a halted guest with a single-step trap pending is entered active") {
    HaltedGuest h(0x50001, 0x302, 0xf4, vmx::pending_debug::single_step);
    REQUIRE(h.m.activities.size() >= 2);
    CHECK(h.m.activities[1] == vmx::activity::active);
}

TEST_CASE("run loop: 'halted' with interrupts off at an RIP no HLT precedes is a delivered event: active") {
    // Bochs 2.7 after a HLT with TF = 1: the #DB frame is pushed, RIP is the #DB handler
    // (interrupts off), and the activity state stays HLT.
    HaltedGuest h(0x50001, 0x2, 0x90, 0);
    REQUIRE(h.m.activities.size() >= 2);
    CHECK(h.m.activities[1] == vmx::activity::active);
}

TEST_CASE("run loop: the measurement window opens when the last guest is ready and its books add up") {
    Run run(2, vmx::Policy::fixed, 10000, 0, 1000000);
    vmx::PcPlatform pc;
    run.guests[1].pc = &pc; // a Linux guest: ready only when it says so
    FakeMachine m({Script::spin, Script::ready_late});
    std::vector<vmx::GuestStats> at_open(2);
    std::vector<vmx::WindowExits> exits_at_open(2);
    vmx::MeasurementWindow w;
    w.measure_ticks = 200000;
    w.at_open = at_open.data();
    w.exits_at_open = exits_at_open.data();
    vmx::RunOptions o;
    o.window = &w;
    run.go(o);
    REQUIRE(w.opened);
    CHECK(w.start > 100000);                 // guest 1 needed 50,000 ticks of its own: 5 slots
    CHECK(w.length() >= 200000);
    CHECK(w.length() < 200000 + 10000);      // the run ends at the window's close
    std::uint64_t sum = 0;
    for (std::size_t g = 0; g < 2; ++g) sum += run.scheduler.guest_stats(g).allotted - at_open[g].allotted;
    const vmx::RunStats& end = run.scheduler.run_stats();
    sum += (end.idle - w.run_at_open.idle) + (end.switching - w.run_at_open.switching);
    CHECK(sum == w.length());
    CHECK(run.guests[1].counters.exits[vmx::exit_reason::vmcall] == 1);
    // The ready VMCALL came before the opening: the window's exits leave it out.
    CHECK(exits_at_open[1].exits[vmx::exit_reason::vmcall] == 1);
    CHECK(exits_at_open[0].exits[vmx::exit_reason::preemption_timer] <= run.guests[0].counters.exits[vmx::exit_reason::preemption_timer]);
}

TEST_CASE("run loop: a guest with its own TSC sees only the time charged to it") {
    Run run(2, vmx::Policy::fixed, 10000, 0, 200000);
    run.guests[0].own_tsc = true;
    FakeMachine m({Script::spin, Script::spin});
    run.go();
    const vmx::Vcpu& g = run.guests[0];
    const std::uint64_t guest_tsc_at_last_exit = g.fast.exit_tsc + g.tsc_offset;
    const std::uint64_t allotted = run.scheduler.guest_stats(0).allotted;
    // Its clock started at 0 at its first entry and advanced by what it owned: about half the run.
    // (To within the loop's few TSC reads around each switch, which are root-mode time.)
    CHECK(guest_tsc_at_last_exit <= allotted + 100);
    CHECK(guest_tsc_at_last_exit + 100 >= allotted);
    CHECK(allotted > 90000);
    CHECK(m.guest_vmcs(0).get(vmx::Field::tsc_offset) == g.tsc_offset);
    CHECK(m.guest_vmcs(1).get(vmx::Field::tsc_offset) == 0);
}

TEST_CASE("run loop: bytes typed for the console_input guest reach its UART once it listens, and entries stay short") {
    Run run(2, vmx::Policy::fixed, 10000, 0, 100000);
    vmx::PcPlatform pc;
    run.guests[1].pc = &pc;
    run.guests[1].ready = true;
    FakeMachine m({Script::spin, Script::spin});
    m.typed = "ls\n";
    vmx::RunOptions o;
    o.console_guest = 1;
    o.console_poll_ticks = 3000;
    SUBCASE("its driver has not enabled the received-data interrupt: the bytes wait, taken off COM1") {
        run.go(o);
        CHECK(pc.counters.typed_bytes == 0);
        CHECK(m.typed.empty()); // COM1's 16-byte FIFO is emptied at every look: nothing overflows there
    }
    SUBCASE("more than its UART's FIFO holds: it takes 16, the rest waits in order") {
        m.typed = "echo typed-$((6*7))\necho second\n"; // 32 bytes
        char sent = 0;
        pc.uart.write(1, 0x01, &sent); // IER: received data
        pc.uart.write(4, 0x08, &sent); // MCR: OUT2
        run.go(o);
        CHECK(m.typed.empty());
        CHECK(pc.counters.typed_bytes == 16); // the guest never reads its UART here
        for (char c : std::string("echo typed-$((6*")) CHECK(pc.uart.read(0) == c);
    }
    SUBCASE("it listens: every byte is taken once, in order, and its IRQ 4 is raised") {
        char sent = 0;
        pc.uart.write(1, 0x01, &sent); // IER: received data
        pc.uart.write(4, 0x08, &sent); // MCR: OUT2
        run.go(o);
        CHECK(pc.counters.typed_bytes == 3);
        CHECK(m.typed.empty());
        CHECK(pc.uart_line); // IRQ 4 rose: an edge went to the 8259
        CHECK(pc.uart.read(0) == 'l');
        CHECK(pc.uart.read(0) == 's');
        CHECK(pc.uart.read(0) == '\n');
    }
    for (std::uint64_t t : m.timers) CHECK(t <= 3000); // the run loop looks at COM1 every 3,000 ticks at least
}
