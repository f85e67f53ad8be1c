// vmx/run/platform.hpp for the host's unit tests: every call goes to the current FakePlatform
// (tests/unit/fake_platform.hpp), or to a plain one when no test installed its own.
#include "fake_platform.hpp"

namespace testing_support {
namespace {

FakePlatform*& current_slot() {
    static FakePlatform* current = nullptr;
    return current;
}

FakePlatform& current() {
    static FakePlatform fallback{FakePlatform::Fallback{}};
    FakePlatform* p = current_slot();
    return p != nullptr ? *p : fallback;
}

} // namespace

FakePlatform::FakePlatform() : previous_(current_slot()) { current_slot() = this; }
FakePlatform::~FakePlatform() {
    if (current_slot() == this && previous_ != this) current_slot() = previous_;
}

} // namespace testing_support

namespace vmx::platform {

std::uint64_t rdtsc() { return testing_support::current().rdtsc(); }
bool switch_to(Vcpu* previous, Vcpu& next) { return testing_support::current().switch_to(previous, next); }
EntryResult enter(Vcpu& guest) { return testing_support::current().enter(guest); }
void idle_until(std::uint64_t tsc) { testing_support::current().idle_until(tsc); }
void background(std::uint64_t now) { testing_support::current().background(now); }
int console_input() { return testing_support::current().console_input(); }
void end_of_interrupt() { testing_support::current().end_of_interrupt(); }
void load_xcr0(std::uint64_t value) { testing_support::current().load_xcr0(value); }
bool write_switched_msr(std::uint32_t msr, std::uint64_t value) {
    return testing_support::current().write_switched_msr(msr, value);
}
bool console_line(const Vcpu& guest, const char* line, bool complete) {
    return testing_support::current().console_line(guest, line, complete);
}

} // namespace vmx::platform
