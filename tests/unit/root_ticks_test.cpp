// Root-mode ticks per exit reason (GuestCounters::root_ticks), which tools/metronome bench reads:
// the counter itself, and what the run loop records into it against a simulated processor.
#include "vmx/run/hypervisor.hpp"

#include <doctest/doctest.h>
#include <vector>

#include "fake_vmcs.hpp"

using testing_support::FakeServices;
using testing_support::FakeVmcs;
using vmx::Field;

namespace {

// One guest that exits with CPUID `cpuid_per_slice` times, each after 100 ticks of guest time,
// then runs into its preemption timer. Every TSC read costs `read_cost` ticks.
class CpuidMachine final : public vmx::Machine, public vmx::VmcsAccess {
  public:
    std::uint64_t rdtsc() override { return now_ += read_cost; }
    bool switch_guest(vmx::GuestContext*, vmx::GuestContext&) override { return true; }
    vmx::EntryResult enter(vmx::GuestContext&, bool) override {
        const std::uint64_t timer = vmcs_.get(Field::vmx_preemption_timer_value);
        std::uint16_t reason = vmx::exit_reason::preemption_timer;
        std::uint64_t ran = timer;
        if (timer > 100) {
            reason = vmx::exit_reason::cpuid;
            ran = 100;
        }
        now_ += ran;
        vmcs_.set(Field::vmx_preemption_timer_value, timer - ran);
        vmcs_.set(Field::exit_reason, reason);
        vmcs_.set(Field::exit_instruction_length, 2);
        vmx::EntryResult r;
        r.exited = true;
        return r;
    }
    void idle_until(std::uint64_t tsc) override { now_ = tsc > now_ ? tsc : now_; }
    vmx::VmcsAccess& vmcs() override { return *this; }
    vmx::ExitServices& services() override { return services_; }
    bool read(Field f, std::uint64_t* value) override { return vmcs_.read(f, value); }
    bool write(Field f, std::uint64_t value) override { return vmcs_.write(f, value); }

    std::uint64_t read_cost = 3;

  private:
    FakeVmcs vmcs_;
    FakeServices services_;
    std::uint64_t now_ = 5000;
};

} // namespace

TEST_CASE("root ticks: count, total, min and max; a value beyond 32 bits saturates min and max") {
    vmx::RootTicks t;
    t.add(40);
    t.add(10);
    t.add(25);
    CHECK(t.count == 3);
    CHECK(t.total == 75);
    CHECK(t.min == 10);
    CHECK(t.max == 40);
    t.add(0x100000000ull);
    CHECK(t.max == 0xffffffffu);
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
    vmx::RunGuest guest;
    guest.context.memory = memory.data();
    guest.context.memory_size = memory.size();
    CpuidMachine machine;
    vmx::run_guests(scheduler, &guest, 1, machine, vmx::RunOptions{});

    const vmx::GuestCounters& c = guest.context.counters;
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
