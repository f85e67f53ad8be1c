// The report of a run on two CPUs: each guest's books come from its own CPU's scheduler, by its
// position there; the JSON says which CPU each guest ran on and lists each CPU's run and guests;
// the table has one part per CPU. The run's own fields are the first CPU's.
#include "vmx/report/report.hpp"

#include "vmx/sched/scheduler.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <string>

namespace {

vmx::Config g_config;   // large: static
vmx::Vcpu g_guests[3];
vmx::Scheduler g_cpu0, g_cpu1;
char g_buffer[vmx::report_capacity(3, 2)];

// `count` spinners with `slice` ticks each, run for `rounds` slices in turn.
void run(vmx::Scheduler& s, std::size_t count, std::uint64_t slice, int rounds) {
    vmx::GuestParams params[2];
    for (std::size_t g = 0; g < count; ++g) params[g].slice_ticks = slice;
    vmx::SchedParams sp;
    sp.policy = vmx::Policy::fixed;
    sp.duration_ticks = 1u << 30;
    REQUIRE(s.init(sp, params, count) == vmx::InitError::none);
    std::uint64_t t = 0;
    for (int i = 0; i < rounds; ++i) {
        const vmx::Decision d = s.next(t);
        REQUIRE(d.kind == vmx::DecisionKind::run);
        s.on_reentry(d.guest, t, false);
        t = d.timer_deadline;
        s.on_exit(d.guest, t, vmx::ExitCause::timer);
    }
    s.end(t);
}

} // namespace

TEST_CASE("report: guests on two CPUs, each with its own CPU's books") {
    g_config = vmx::Config{};
    g_config.guest_count = 3;
    const char* names[] = {"a", "b", "c"};
    const std::uint32_t cpu_of[] = {1, 0, 1};
    for (std::size_t i = 0; i < 3; ++i) {
        std::snprintf(g_config.guests[i].name, sizeof g_config.guests[i].name, "%s", names[i]);
        std::snprintf(g_config.guests[i].image, sizeof g_config.guests[i].image, "spin");
        g_config.guests[i].cpu = cpu_of[i];
    }
    run(g_cpu0, 1, 1000, 10);  // b alone: all of CPU 0
    run(g_cpu1, 2, 1000, 10);  // a and c: half of CPU 1 each
    // Positions: CPU 0's guests first (b), then CPU 1's in configuration order (a, c).
    const std::size_t position[] = {1, 0, 2};
    vmx::ReportCpu cpus[2];
    cpus[0].cpu = 0;
    cpus[0].scheduler = &g_cpu0;
    cpus[0].ran = true;
    cpus[0].count = 1;
    cpus[1].cpu = 1;
    cpus[1].apic_id = 1;
    cpus[1].scheduler = &g_cpu1;
    cpus[1].ran = true;
    cpus[1].first = 1;
    cpus[1].count = 2;
    g_guests[0].counters.exits[vmx::exit_reason::cpuid] = 7; // b's
    vmx::ReportInput in;
    in.config = &g_config;
    in.cpus = cpus;
    in.cpu_count = 2;
    in.position = position;
    in.guests = g_guests;
    in.guest_count = 3;
    in.tsc_hz = 1000000;

    vmx::Text out(g_buffer, sizeof g_buffer);
    vmx::write_report_json(in, out);
    REQUIRE_FALSE(out.truncated());
    const std::string json = out.c_str();
    CHECK(json.find("\"cpus\":[{\"cpu\":0,\"apic_id\":0,\"ran\":true,\"error\":null,\"guests\":[\"b\"],"
                    "\"duration_ticks\":10000,") != std::string::npos);
    CHECK(json.find("{\"cpu\":1,\"apic_id\":1,\"ran\":true,\"error\":null,\"guests\":[\"a\",\"c\"],"
                    "\"duration_ticks\":10000,") != std::string::npos);
    const std::size_t a = json.find("{\"name\":\"a\",\"image\":\"spin\",\"cpu\":1,");
    const std::size_t b = json.find("{\"name\":\"b\",\"image\":\"spin\",\"cpu\":0,");
    const std::size_t c = json.find("{\"name\":\"c\",\"image\":\"spin\",\"cpu\":1,");
    REQUIRE(a != std::string::npos);
    REQUIRE(b != std::string::npos);
    REQUIRE(c != std::string::npos);
    CHECK(a < b);
    CHECK(b < c); // configuration order
    CHECK(json.find("\"share_ppm\":500000", a) < b);
    CHECK(json.find("\"share_ppm\":1000000", b) < c);
    CHECK(json.find("\"exits\":{\"cpuid\":7}", b) < c); // b's Vcpu is at position 0
    // The run's own fields are the first CPU's; the second CPU's timeline is in its entry.
    CHECK(json.find(",\"duration_ticks\":10000,") < json.find("\"cpus\":["));
    CHECK(json.find("\"timeline\":") < json.find("],\"guests\":["));

    out.clear();
    vmx::write_report_table(in, out);
    const std::string table = out.c_str();
    const std::size_t cpu0 = table.find("CPU 0: Run: 10000 us");
    const std::size_t cpu1 = table.find("CPU 1: Run: 10000 us");
    REQUIRE(cpu0 != std::string::npos);
    REQUIRE(cpu1 != std::string::npos);
    CHECK(table.find("\nb ") > cpu0);
    CHECK(table.find("\nb ") < cpu1);
    CHECK(table.find("\na ") > cpu1);
    CHECK(table.find("\nc ") > cpu1);
    CHECK(table.find("100.00") < cpu1);
}
