// The longest possible report fits its buffer (vmx/report/report.hpp, report_capacity): the report
// of max_guests guests with every name, path and text at its longest and made of characters that
// JSON escapes six bytes wide, every exit reason counted and timed, every fallback listed, a stop
// with the most fields, the timeline full, and then every number widened to 20 digits (2^64 - 1)
// in the count. The same for one guest, so that the part for the run is checked on its own.
#include "vmx/report/report.hpp"

#include "vmx/devices/pc.hpp"
#include "vmx/run/window.hpp"
#include "vmx/sched/scheduler.hpp"

#include <doctest/doctest.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

vmx::Config g_config;             // large: static
vmx::Vcpu g_guests[vmx::max_guests];
vmx::Scheduler g_scheduler;
std::uint64_t g_progress[vmx::max_guests];
char g_buffer[vmx::report_capacity(vmx::max_guests)];
vmx::PcPlatform g_pc[vmx::max_guests];
vmx::GuestStats g_at_open[vmx::max_guests];
vmx::WindowExits g_exits_at_open[vmx::max_guests]; // zeros: every exit reason is in the window
vmx::MeasurementWindow g_window;
vmx::ReportCpu g_cpu;  // one CPU runs every guest

constexpr char kEscaped = '\x7f'; // written as \u007f: the widest a character gets

void fill(char* s, std::size_t n, char c) {
    for (std::size_t i = 0; i < n; ++i) s[i] = c;
    s[n] = '\0';
}

std::string escaped_text(std::size_t n) { return std::string(n, kEscaped); }

// A scheduler whose timeline is full: short slots, recorded from the start.
void run_scheduler(std::size_t count) {
    std::vector<vmx::GuestParams> params(count);
    for (vmx::GuestParams& p : params) p.slice_ticks = 3;
    vmx::SchedParams sp;
    sp.policy = vmx::Policy::fixed;
    sp.duration_ticks = 1000000;
    sp.timeline_ticks = 1000000;
    REQUIRE(g_scheduler.init(sp, params.data(), count) == vmx::InitError::none);
    std::uint64_t t = 1;
    for (int i = 0; i < 6000; ++i) {
        const vmx::Decision d = g_scheduler.next(t);
        REQUIRE(d.kind == vmx::DecisionKind::run);
        g_scheduler.on_reentry(d.guest, t + 1, false); // a switch between: a span each
        t = d.timer_deadline + 1;
        g_scheduler.on_exit(d.guest, t, vmx::ExitCause::timer);
    }
    g_scheduler.end(t);
    REQUIRE(g_scheduler.timeline().count() == vmx::Timeline::capacity);
}

vmx::ReportInput worst_input(std::size_t count, const std::string& brand, const std::string& platform_text) {
    g_config = vmx::Config{};
    g_config.guest_count = static_cast<unsigned>(count);
    g_config.test_fail_vmxon = true;
    for (std::size_t i = 0; i < count; ++i) {
        vmx::GuestConfig& gc = g_config.guests[i];
        fill(gc.name, vmx::max_name_length, 'n'); // names are [A-Za-z0-9_-]: never escaped
        fill(gc.image, vmx::max_image_length, kEscaped);
        fill(gc.kernel, vmx::max_path_length, kEscaped);
        fill(gc.initrd, vmx::max_path_length, kEscaped);
        gc.test_corrupt_guest_state = true;
        vmx::Vcpu& v = g_guests[i];
        v = vmx::Vcpu{};
        for (std::uint16_t r = 0; r < vmx::exit_reason::count; ++r) {
            v.counters.exits[r] = 1;
            v.counters.root_ticks[r].add(1);
        }
        v.counters.exits_other = 1;
        v.stop.reason = vmx::StopReason::ept_violation; // the most fields
        fill(v.stop.detail, sizeof v.stop.detail - 1, kEscaped);
        for (std::size_t l = 0; l < vmx::ConsoleBuffer::history; ++l)
            fill(v.console.last[l], vmx::ConsoleBuffer::capacity, kEscaped);
        v.console.lines = vmx::ConsoleBuffer::history;
        v.pc = &g_pc[i]; // a Linux guest: its virtual PC's counters too
        g_progress[i] = 1;
    }
    // The command lines fill the pool, shared out among the guests.
    const std::size_t each = vmx::cmdline_pool_size / count - 1;
    const std::size_t length = each < vmx::max_cmdline_length ? each : vmx::max_cmdline_length;
    for (std::size_t i = 0; i < count; ++i) {
        vmx::ConfigText& text = g_config.guests[i].cmdline;
        text.offset = static_cast<std::uint16_t>(g_config.cmdline_pool_used);
        text.length = static_cast<std::uint16_t>(length);
        fill(g_config.cmdline_pool + g_config.cmdline_pool_used, length, kEscaped);
        g_config.cmdline_pool_used += length + 1;
    }
    run_scheduler(count);
    vmx::ReportInput in;
    in.config = &g_config;
    g_cpu = vmx::ReportCpu{};
    g_cpu.scheduler = &g_scheduler;
    g_cpu.ran = true;
    g_cpu.count = count;
    in.cpus = &g_cpu;
    in.cpu_count = 1;
    in.guests = g_guests;
    in.guest_count = count;
    in.progress = g_progress;
    in.ticks_seen = g_progress;
    in.tsc_hz = 1;
    in.extended_state = platform_text.c_str();
    g_cpu.idle_method = platform_text.c_str();
    g_cpu.feature_control = platform_text.c_str();
    in.platform = brand.c_str();
    in.capabilities.lacks = 0xffff; // every fallback
    g_window = vmx::MeasurementWindow{};
    g_window.measure_ticks = 1;
    g_window.opened = true;
    g_window.end = 1;
    g_window.at_open = g_at_open;
    g_window.exits_at_open = g_exits_at_open;
    g_cpu.window = &g_window;
    return in;
}

// The length with every number widened to 20 digits: runs of digits outside JSON strings (the
// strings' own digits, such as those of \u007f, are text).
std::size_t widest(const char* text, std::size_t size) {
    std::size_t out = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < size;) {
        const char c = text[i];
        if (in_string) {
            const std::size_t n = c == '\\' ? 2 : 1;
            in_string = c != '"';
            out += n;
            i += n;
            continue;
        }
        if (std::isdigit(static_cast<unsigned char>(c)) == 0) {
            in_string = c == '"';
            ++out;
            ++i;
            continue;
        }
        std::size_t j = i;
        while (j < size && std::isdigit(static_cast<unsigned char>(text[j])) != 0) ++j;
        out += j - i > vmx::report_number_max ? j - i : vmx::report_number_max;
        i = j;
    }
    return out;
}

struct Sizes {
    std::size_t json;
    std::size_t table;
};

Sizes worst_sizes(std::size_t count) {
    const std::string brand = escaped_text(vmx::report_brand_max);
    const std::string text = escaped_text(vmx::report_platform_text_max);
    const vmx::ReportInput in = worst_input(count, brand, text);
    vmx::Text out(g_buffer, vmx::report_capacity(count));
    vmx::write_report_table(in, out);
    REQUIRE_FALSE(out.truncated());
    const std::size_t table = widest(out.c_str(), out.size());
    out.clear();
    out.str("METRONOME-REPORT ");
    vmx::write_report_json(in, out);
    REQUIRE_FALSE(out.truncated());
    const std::size_t json = widest(out.c_str(), out.size());
    if (std::getenv("METRONOME_REPORT_VERBOSE") != nullptr)
        std::printf("%zu guests: json %zu (written %zu), table %zu, capacity %zu\n", count, json, out.size(),
                    table, vmx::report_capacity(count));
    return {json, table};
}

} // namespace

TEST_CASE("report size: the longest report of one guest fits, and so does that of max_guests") {
    const Sizes one = worst_sizes(1);
    CHECK(one.json <= vmx::report_capacity(1));
    CHECK(one.table <= vmx::report_capacity(1));
    const Sizes all = worst_sizes(vmx::max_guests);
    CHECK(all.json <= vmx::report_capacity(vmx::max_guests));
    CHECK(all.table <= vmx::report_capacity(vmx::max_guests));
    // Each guest adds no more than its bound (the table's lines are shorter than the JSON's).
    CHECK((all.json - one.json) / (vmx::max_guests - 1) <= vmx::report_bytes_per_guest);
    CHECK(one.json - (all.json - one.json) / (vmx::max_guests - 1) <= vmx::report_bytes_per_run);
}

TEST_CASE("report size: the bounds cover every exit key and the texts they assume") {
    for (std::uint16_t r = 0; r < vmx::exit_reason::count; ++r)
        CHECK(std::string(vmx::exit_reason_key(r)).size() <= vmx::report_key_max);
    for (std::size_t c = 0; c < vmx::kExitCauseCount; ++c)
        CHECK(std::string(vmx::exit_cause_name(static_cast<vmx::ExitCause>(c))).size() <= vmx::report_key_max);
}

TEST_CASE("report: a guest's exits in the window are those after its opening, reasons seen only") {
    const std::string text = "x";
    const vmx::ReportInput in = worst_input(1, text, text);
    g_guests[0].counters.exits[vmx::exit_reason::cpuid] = 5;
    for (std::uint16_t r = 0; r < vmx::exit_reason::count; ++r) g_exits_at_open[0].exits[r] = 1;
    g_exits_at_open[0].exits[vmx::exit_reason::cpuid] = 2;
    g_exits_at_open[0].other = 1;
    vmx::Text out(g_buffer, vmx::report_capacity(1));
    vmx::write_report_json(in, out);
    const std::string json = out.c_str();
    const std::size_t window = json.find("\"window\":{\"allotted_ticks\"");
    REQUIRE(window != std::string::npos);
    const std::size_t exits = json.find("\"exits\":{", window);
    REQUIRE(exits != std::string::npos);
    CHECK(json.compare(exits, 20, "\"exits\":{\"cpuid\":3}}") == 0);
    CHECK(json.find("\"exits\":{") < window); // the whole run's, with every reason
    for (std::uint16_t r = 0; r < vmx::exit_reason::count; ++r) g_exits_at_open[0].exits[r] = 0;
    g_exits_at_open[0].other = 0;
}

namespace {
vmx::Scheduler g_second;
vmx::ReportCpu g_cpus[2];
std::size_t g_position[vmx::max_guests];
} // namespace

TEST_CASE("report size: the longest report of max_guests guests on two CPUs fits its buffer") {
    const std::string brand = escaped_text(vmx::report_brand_max);
    const std::string text = escaped_text(vmx::report_platform_text_max);
    vmx::ReportInput in = worst_input(vmx::max_guests, brand, text);
    // The second CPU: the last guest, with a full timeline of its own.
    std::vector<vmx::GuestParams> params(1);
    params[0].slice_ticks = 3;
    vmx::SchedParams sp;
    sp.policy = vmx::Policy::fixed;
    sp.duration_ticks = 1000000;
    sp.timeline_ticks = 1000000;
    REQUIRE(g_second.init(sp, params.data(), 1) == vmx::InitError::none);
    std::uint64_t t = 1;
    for (int i = 0; i < 6000; ++i) {
        const vmx::Decision d = g_second.next(t);
        g_second.on_reentry(d.guest, t + 1, false);
        t = d.timer_deadline + 1;
        g_second.on_exit(d.guest, t, vmx::ExitCause::timer);
    }
    g_second.end(t);
    for (std::size_t c = 0; c < 2; ++c) {
        g_cpus[c] = vmx::ReportCpu{};
        g_cpus[c].cpu = static_cast<std::uint32_t>(c);
        g_cpus[c].scheduler = c == 0 ? &g_scheduler : &g_second;
        g_cpus[c].window = &g_window;
        g_cpus[c].idle_method = text.c_str();
        g_cpus[c].feature_control = text.c_str();
        g_cpus[c].error = text.c_str();
        g_cpus[c].ran = true;
    }
    g_cpus[0].count = vmx::max_guests - 1;
    g_cpus[1].first = vmx::max_guests - 1;
    g_cpus[1].count = 1;
    for (std::size_t i = 0; i < vmx::max_guests; ++i) g_position[i] = i;
    in.cpus = g_cpus;
    in.cpu_count = 2;
    in.position = g_position;
    static char buffer[vmx::report_capacity(vmx::max_guests, 2)];
    vmx::Text out(buffer, sizeof buffer);
    vmx::write_report_json(in, out);
    REQUIRE_FALSE(out.truncated());
    CHECK(widest(out.c_str(), out.size()) <= vmx::report_capacity(vmx::max_guests, 2));
}
