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

struct ReportInput {
    const Config* config = nullptr;
    const Scheduler* scheduler = nullptr;
    const Vcpu* guests = nullptr;
    std::size_t guest_count = 0;
    const std::uint64_t* progress = nullptr;    // per guest, from its start-info page
    const std::uint64_t* ticks_seen = nullptr;  // per guest, from its start-info page
    std::uint64_t tsc_hz = 0;
    bool tsc_configured = false;                // from the configuration, not calibrated
    unsigned timer_rate = 0;
    const char* extended_state = "";
    const char* idle_method = "";
    const char* feature_control = "";
    const char* platform = "";                  // CPU brand string
    Capabilities capabilities{};                // its fallbacks go into the report
    const MeasurementWindow* window = nullptr;  // the measurement window, if the run had one
};

// "running", "halted" or "exited".
const char* guest_state_name(Activity activity);

void write_report_table(const ReportInput& in, Text& out);
// The JSON object only; the caller prefixes "METRONOME-REPORT ".
void write_report_json(const ReportInput& in, Text& out);

} // namespace vmx
