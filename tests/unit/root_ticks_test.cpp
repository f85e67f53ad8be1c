// Root-mode ticks per exit reason (GuestCounters::root_ticks), which tools/metronome bench reads:
// the counter itself, and what the run loop records into it against a simulated processor.
#include "vmx/run/run_loop.hpp"

#include <doctest/doctest.h>
#include <vector>

#include "fake_vmcs.hpp"

using testing_support::FakeVmcs;
using vmx::Field;

namespace {

// One guest that exits with CPUID `cpuid_per_slice` times, each after 100 ticks of guest time,
// then runs into its preemption timer. Every TSC read costs `read_cost` ticks. Exits go to the
// fast path as vm_entry.S hands them over.
class CpuidMachine final : public testing_support::FakePlatform {
  public:
    CpuidMachine() {
        now = 5000;
        vmcs_.make_current();
    }
    std::uint64_t rdtsc() override { return now += read_cost; }
    vmx::EntryResult enter(vmx::Vcpu& entered) override {
        vmx::Vcpu* current = &entered;
        int rc = 0;
        do {
            vmx::Vcpu& guest = *current;
            const std::uint64_t timer = vmcs_.get(Field::vmx_preemption_timer_value);
            std::uint16_t reason = vmx::exit_reason::preemption_timer;
            std::uint64_t ran = timer;
            if (timer > 100) {
                reason = vmx::exit_reason::cpuid;
                ran = 100;
            }
            now += ran;
            vmcs_.set(Field::vmx_preemption_timer_value, timer - ran);
            vmcs_.set(Field::exit_reason, reason);
            vmcs_.set(Field::exit_instruction_length, 2);
            rc = vmx::exit_fast(guest);
            if (rc == 3) current = guest.resume_next; // a slot switched below the run loop
        } while (rc != 1);
        vmx::EntryResult r;
        r.exited = true;
        r.guest = current;
        return r;
    }

    std::uint64_t read_cost = 3;

  private:
    FakeVmcs vmcs_;
};

} // namespace

TEST_CASE("root ticks: count, total, min and max, in 64 bits") {
    vmx::RootTicks t;
    t.add(40);
    t.add(10);
    t.add(25);
    CHECK(t.count == 3);
    CHECK(t.total == 75);
    CHECK(t.min == 10);
    CHECK(t.max == 40);
    t.add(0x100000000ull);
    CHECK(t.max == 0x100000000ull);
    CHECK(t.min_or_zero() == 10);
    CHECK(vmx::RootTicks{}.min_or_zero() == 0);
    CHECK(t.total == 75 + 0x100000000ull);
}

TEST_CASE("root ticks: the run loop charges each exit's root-mode time to its reason") {
    vmx::Scheduler scheduler;
    vmx::GuestParams params;
    params.slice_ticks = 1000;
    vmx::SchedParams sp;
    sp.policy = vmx::Policy::fixed;
    sp.duration_ticks = 20000;
    REQUIRE(scheduler.init(sp, &params, 1) == vmx::InitError::none);
    std::vector<std::uint8_t> memory(1 << 16);
    vmx::Vcpu guest;
    guest.memory = memory.data();
    guest.memory_size = memory.size();
    CpuidMachine machine;
    vmx::run_guests(scheduler, &guest, 1, vmx::RunOptions{});

    const vmx::GuestCounters& c = guest.counters;
    const vmx::RootTicks& cpuid = c.root_ticks[vmx::exit_reason::cpuid];
    CHECK(c.exits[vmx::exit_reason::cpuid] > 50);
    // Every CPUID exit but the run's last is followed by an entry, and is recorded once.
    CHECK(cpuid.count + 1 >= c.exits[vmx::exit_reason::cpuid]);
    CHECK(cpuid.count <= c.exits[vmx::exit_reason::cpuid]);
    // Root-mode time is whole TSC reads of the loop: positive, a multiple of the read cost.
    CHECK(cpuid.min > 0);
    CHECK(cpuid.min % machine.read_cost == 0);
    CHECK(cpuid.min <= cpuid.max);
    CHECK(c.root_ticks[vmx::exit_reason::preemption_timer].count > 0);
    CHECK(c.root_ticks[vmx::exit_reason::vmcall].count == 0);
    CHECK(c.first_entry_tsc > 5000);
    CHECK(c.first_entry_tsc < 5000 + 1000);
}
