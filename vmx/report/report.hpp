// The end-of-run report (README, "The report"): a table for people and one METRONOME-REPORT line of
// JSON for tools. Pure: built from the configuration, the scheduler's accounting and what the
// exit handler recorded per guest.
#pragma once
#include <cstddef>
#include <cstdint>

#include "vmx/caps/capability_report.hpp"
#include "vmx/config/config.hpp"
#include "vmx/run/run_loop.hpp"
#include "vmx/run/vcpu.hpp"
#include "vmx/sched/scheduler.hpp"
#include "vmx/lib/text.hpp"

namespace vmx {

// One CPU's part of the run: its schedule and its guests.
struct ReportCpu {
    std::uint32_t cpu = 0;                      // the firmware's number of the processor
    std::uint64_t apic_id = 0;
    const Scheduler* scheduler = nullptr;
    const MeasurementWindow* window = nullptr;  // its measurement window, if the run had one
    const char* idle_method = "";
    const char* feature_control = "";
    const char* error = "";                     // what went wrong on it, in words ("" if nothing)
    bool ran = false;                           // its schedule ran
    std::size_t first = 0, count = 0;           // its guests: `guests` first..first+count-1
};

struct ReportInput {
    const Config* config = nullptr;
    // The CPUs (at least one) and where each guest is.
    const ReportCpu* cpus = nullptr;
    std::size_t cpu_count = 0;
    const std::size_t* position = nullptr;      // configuration index -> index in `guests` (null: the same)
    const Vcpu* guests = nullptr;               // by position
    std::size_t guest_count = 0;
    const std::uint64_t* progress = nullptr;    // per guest, from its start-info page
    const std::uint64_t* ticks_seen = nullptr;  // per guest, from its start-info page
    std::uint64_t tsc_hz = 0;
    bool tsc_configured = false;                // from the configuration, not calibrated
    unsigned timer_rate = 0;
    const char* extended_state = "";
    const char* platform = "";                  // CPU brand string
    Capabilities capabilities{};                // its fallbacks go into the report
};

// The most bytes a report takes (write_report_json; write_report_table writes less), so that the
// caller's buffer holds the longest report whole: a part for the run and one per guest, each
// counted with every number at 20 digits (2^64 - 1) and every string the configuration or a guest
// fills at its longest with each character escaped six bytes wide (\u00XX).
// tests/unit/report_size_test.cpp writes that report for 1 and for max_guests guests and checks
// both parts against these bounds.
inline constexpr std::size_t report_number_max = 20;         // digits of 2^64 - 1
inline constexpr std::size_t report_key_max = 32;            // an exit reason's or cause's key
inline constexpr std::size_t report_brand_max = 48;          // the CPU brand string (CPUID)
inline constexpr std::size_t report_platform_text_max = 160; // idle method, XSAVE, feature control
constexpr std::size_t report_string_max(std::size_t chars) { return 2 + 6 * chars; }
// The run, and each further CPU again: the timeline's spans ([guest,"running",start,end]), the platform's strings, the
// guests' command lines (one pool, vmx/config/config.hpp), and at most 8 KiB of keys, global
// configuration and the fallbacks' texts.
inline constexpr std::size_t report_bytes_per_run = Timeline::capacity * (3 * report_number_max + 20) +
                                                    report_string_max(report_brand_max) +
                                                    3 * report_string_max(report_platform_text_max) +
                                                    report_string_max(cmdline_pool_size) + 8192;
// A guest: its configuration and its object. Per exit reason a count ("key":N,) twice (the run's
// and the window's) and root-mode ticks ("key":{"count":N,"min":N,"mean":N,"max":N},), per exit
// cause a count, its name and
// image twice, its name once more (its CPU's list of guests), its kernel's and initrd's paths, its stop detail, its last console lines, at most
// 96 other numbers (its books, the window's, its virtual PC's) and 3,000 bytes of keys.
inline constexpr std::size_t report_bytes_per_guest =
    exit_reason::count * (3 * report_key_max + 165) + kExitCauseCount * (report_key_max + 24) +
    2 * (report_string_max(max_name_length) + report_string_max(max_image_length)) + report_string_max(max_name_length) +
    2 * report_string_max(max_path_length) + report_string_max(sizeof(GuestStop::detail) - 1) +
    ConsoleBuffer::history * report_string_max(ConsoleBuffer::capacity) + 96 * report_number_max + 3000;
constexpr std::size_t report_capacity(std::size_t guests, std::size_t cpus = 1) {
    return (cpus == 0 ? 1 : cpus) * report_bytes_per_run + guests * report_bytes_per_guest;
}

// "running", "halted" or "exited".
const char* guest_state_name(Activity activity);

void write_report_table(const ReportInput& in, Text& out);
// The JSON object only; the caller prefixes "METRONOME-REPORT ".
void write_report_json(const ReportInput& in, Text& out);

} // namespace vmx
