// The x2APIC of Linux guests (vmx/devices/lapic.hpp): registers as Linux programs them, priority,
// EOI, self-IPIs, and the timer in TSC-deadline, one-shot and periodic modes.
#include "vmx/devices/lapic.hpp"

#include <doctest/doctest.h>

#include "vmx/arch/msr.hpp"

using vmx::Lapic;
using vmx::MsrAccess;

namespace {

std::uint64_t rd(const Lapic& a, std::uint32_t msr, std::uint64_t now = 0) {
    std::uint64_t v = 0xdead;
    REQUIRE(a.read(msr, now, &v) == MsrAccess::done);
    return v;
}

// Enabled as Linux's setup_local_APIC leaves it: SVR enabled with spurious vector 0xFF, LINT0
// ExtINT, LINT1 NMI, timer in TSC-deadline mode at vector 0xEC.
Lapic linux_apic() {
    Lapic a;
    CHECK(a.write(0x80f, 0x1ff, 0) == MsrAccess::done);
    CHECK(a.write(0x835, 0x700, 0) == MsrAccess::done);
    CHECK(a.write(0x836, 0x400, 0) == MsrAccess::done);
    CHECK(a.write(0x832, 0xec | (2u << 17), 0) == MsrAccess::timer);
    return a;
}

} // namespace

TEST_CASE("lapic: identity and version registers read as an integrated x2APIC with ID 0") {
    Lapic a;
    CHECK(rd(a, 0x802) == 0);
    CHECK((rd(a, 0x803) & 0xff) == 0x14);
    CHECK((rd(a, 0x803) >> 16 & 0xff) == 5);
    CHECK(rd(a, 0x80d) == 1);
    CHECK(rd(a, 0x80f) == 0xff);
    CHECK_FALSE(a.software_enabled());
    std::uint64_t v;
    CHECK(a.read(0x80b, 0, &v) == MsrAccess::fault);  // EOI is write-only
    CHECK(a.read(0x83f, 0, &v) == MsrAccess::fault);  // SELF IPI is write-only
    CHECK(a.read(0x801, 0, &v) == MsrAccess::fault);  // reserved
    CHECK(a.write(0x802, 1, 0) == MsrAccess::fault);  // ID is read-only
    CHECK(a.write(0x80b, 1, 0) == MsrAccess::fault);  // nonzero EOI
    CHECK(a.write(0x808, 0x100, 0) == MsrAccess::fault);
}

TEST_CASE("lapic: requests are delivered by priority class above the processor priority") {
    Lapic a = linux_apic();
    CHECK(a.deliverable() == -1);
    a.request(0x31);
    a.request(0xec);
    CHECK(a.deliverable() == 0xec);
    a.accept(0xec);
    CHECK(rd(a, 0x80a) == 0xe0);              // PPR follows the in-service class
    CHECK(a.deliverable() == -1);             // 0x31 is below
    CHECK((rd(a, 0x817) >> (0xec - 0xe0) & 1) == 1);
    CHECK(a.write(0x80b, 0, 0) == MsrAccess::done); // EOI
    CHECK(a.deliverable() == 0x31);
    CHECK(a.write(0x808, 0x40, 0) == MsrAccess::done); // TPR above 0x31's class
    CHECK(a.deliverable() == -1);
    CHECK(a.write(0x808, 0x20, 0) == MsrAccess::done);
    CHECK(a.deliverable() == 0x31);
    a.request(5); // illegal vector: not requested, the error is recorded
    CHECK((rd(a, 0x828) & 0x40) != 0);
}

TEST_CASE("lapic: self-IPIs through ICR and SELF IPI; IPIs to others are dropped and counted") {
    Lapic a = linux_apic();
    CHECK(a.write(0x830, 0xf6 | (1u << 18), 0) == MsrAccess::done); // shorthand self
    CHECK(a.deliverable() == 0xf6);
    a.accept(0xf6);
    CHECK(a.write(0x83f, 0xf7, 0) == MsrAccess::done);
    CHECK(a.write(0x830, 0x500 | (3u << 18), 0) == MsrAccess::done); // INIT to all others
    CHECK(a.self_ipis == 2);
    CHECK(a.ipis_dropped == 1);
    CHECK(a.lint0_extint());
}

TEST_CASE("lapic: a TSC deadline fires at its time, once, and 0 disarms it") {
    Lapic a = linux_apic();
    CHECK(a.write(vmx::msr::ia32_tsc_deadline, 5000, 100) == MsrAccess::timer);
    CHECK(a.timer_armed());
    CHECK(a.timer_due() == 5000);
    CHECK(rd(a, vmx::msr::ia32_tsc_deadline) == 5000);
    CHECK_FALSE(a.timer_expired(4999));
    CHECK(a.timer_expired(5003));
    CHECK_FALSE(a.timer_armed());
    CHECK(rd(a, vmx::msr::ia32_tsc_deadline) == 0);
    CHECK(a.deliverable() == 0xec);
    CHECK(a.write(vmx::msr::ia32_tsc_deadline, 9000, 6000) == MsrAccess::timer);
    CHECK(a.write(vmx::msr::ia32_tsc_deadline, 0, 6000) == MsrAccess::timer);
    CHECK_FALSE(a.timer_armed());
}

TEST_CASE("lapic: a masked timer expires without an interrupt; a mode change disarms it") {
    Lapic a = linux_apic();
    a.write(vmx::msr::ia32_tsc_deadline, 100, 0);
    a.write(0x832, 0xec | (2u << 17) | vmx::x2apic::lvt_masked, 0);
    CHECK(a.timer_armed());
    CHECK_FALSE(a.timer_expired(200));
    CHECK(a.deliverable() == -1);
    a.write(vmx::msr::ia32_tsc_deadline, 300, 0);
    CHECK(a.write(0x832, 0xec, 0) == MsrAccess::timer); // to one-shot
    CHECK_FALSE(a.timer_armed());
    CHECK(a.write(vmx::msr::ia32_tsc_deadline, 300, 0) == MsrAccess::done); // ignored outside deadline mode
    CHECK_FALSE(a.timer_armed());
}

TEST_CASE("lapic: one-shot and periodic counts run at the TSC rate times the divider") {
    Lapic a = linux_apic();
    a.write(0x832, 0xec | (1u << 17), 0); // periodic
    a.write(0x83e, 0x3, 0);               // divide by 16
    CHECK(a.write(0x838, 100, 1000) == MsrAccess::timer);
    CHECK(a.timer_due() == 1000 + 1600);
    CHECK(rd(a, 0x839, 1800) == 50);
    CHECK(a.timer_expired(2600 + 3200 + 5)); // two periods late: they coalesce
    CHECK(a.timer_due() == 2600 + 3 * 1600);
    a.write(0x832, 0xec, 0); // one-shot
    a.write(0x83e, 0xb, 0);  // divide by 1
    a.write(0x838, 700, 10000);
    CHECK(a.timer_due() == 10700);
    CHECK(a.timer_expired(10700));
    CHECK_FALSE(a.timer_armed());
    CHECK(rd(a, 0x839, 10800) == 0);
    a.write(0x838, 0, 20000);
    CHECK_FALSE(a.timer_armed());
}

TEST_CASE("lapic: software-disabled, every LVT entry stays masked") {
    Lapic a;
    a.write(0x835, 0x700, 0);
    CHECK((rd(a, 0x835) & vmx::x2apic::lvt_masked) != 0);
    CHECK_FALSE(a.lint0_extint());
    a.write(0x80f, 0x1ff, 0);
    a.write(0x835, 0x700, 0);
    CHECK(a.lint0_extint());
    a.write(0x80f, 0x0ff, 0);
    CHECK_FALSE(a.lint0_extint());
}
