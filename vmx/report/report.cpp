#include "vmx/report/report.hpp"

#include "vmx/devices/pc.hpp"

#include "vmx/vmcs/preemption_timer.hpp"

namespace vmx {
namespace {

void percent(Text& out, std::uint64_t ppm) { out.fixed(ppm / 100, 2); }

void stat_json(Text& out, const char* key, const MinMeanMax& m) {
    out.chr('"').str(key).str("\":{\"count\":").dec(m.count).str(",\"min\":").dec(m.min);
    out.str(",\"mean\":").dec(m.mean()).str(",\"max\":").dec(m.max).chr('}');
}

// The guest's exits by reason, reasons seen only; with `since`, only those after it (the
// measurement window's opening).
void exits_json(Text& out, const GuestCounters& c, const WindowExits* since = nullptr) {
    out.str("\"exits\":{");
    bool first = true;
    for (std::uint16_t r = 0; r < exit_reason::count; ++r) {
        const std::uint64_t n = c.exits[r] - (since != nullptr ? since->exits[r] : 0);
        if (n == 0) continue;
        if (!first) out.chr(',');
        first = false;
        out.chr('"').str(exit_reason_key(r)).str("\":").dec(n);
    }
    const std::uint64_t other = c.exits_other - (since != nullptr ? since->other : 0);
    if (other != 0) {
        if (!first) out.chr(',');
        out.str("\"other\":").dec(other);
    }
    out.chr('}');
}

// Root-mode ticks per basic exit reason (GuestCounters::root_ticks), reasons seen only.
void root_ticks_json(Text& out, const GuestCounters& c) {
    out.str("\"root_ticks_by_exit\":{");
    bool first = true;
    for (std::uint16_t r = 0; r < exit_reason::count; ++r) {
        const RootTicks& t = c.root_ticks[r];
        if (t.count == 0) continue;
        if (!first) out.chr(',');
        first = false;
        out.chr('"').str(exit_reason_key(r)).str("\":{\"count\":").dec(t.count).str(",\"min\":").dec(t.min_or_zero());
        out.str(",\"mean\":").dec(t.total / t.count).str(",\"max\":").dec(t.max).chr('}');
    }
    out.str("},\"first_entry_tsc\":").dec(c.first_entry_tsc);
}

// Where guest i (of the configuration) is: its CPU, its number in that CPU's schedule, its Vcpu.
struct Where {
    const ReportCpu* cpu = nullptr;
    std::size_t local = 0;
    const Vcpu* vcpu = nullptr;
};

Where where(const ReportInput& in, std::size_t i) {
    const std::size_t position = in.position != nullptr ? in.position[i] : i;
    Where w;
    w.vcpu = &in.guests[position];
    for (std::size_t c = 0; c < in.cpu_count; ++c) {
        const ReportCpu& cpu = in.cpus[c];
        if (position >= cpu.first && position < cpu.first + cpu.count) {
            w.cpu = &cpu;
            w.local = position - cpu.first;
        }
    }
    return w;
}

bool window_open(const ReportCpu& cpu) { return cpu.window != nullptr && cpu.window->opened; }

// The guest's books inside the measurement window, or null.
void guest_window_json(const Where& w, Text& out) {
    out.str(",\"window\":");
    if (!window_open(*w.cpu)) {
        out.str("null");
        return;
    }
    const MeasurementWindow& window = *w.cpu->window;
    const GuestStats& end = w.cpu->scheduler->guest_stats(w.local);
    const GuestStats& start = window.at_open[w.local];
    const std::uint64_t length = window.length();
    out.str("{\"allotted_ticks\":").dec(end.allotted - start.allotted).str(",\"ran_ticks\":").dec(end.ran - start.ran);
    out.str(",\"halted_ticks\":").dec(end.halted - start.halted).str(",\"hypervisor_ticks\":").dec(end.hypervisor - start.hypervisor);
    out.str(",\"share_ppm\":").dec(ratio_ppm(end.ran - start.ran, length));
    out.str(",\"allotted_ppm\":").dec(ratio_ppm(end.allotted - start.allotted, length));
    out.str(",\"ticks_due\":").dec(end.ticks_due - start.ticks_due).str(",\"ticks_injected\":").dec(end.ticks_injected - start.ticks_injected);
    if (window.exits_at_open != nullptr) {
        out.chr(',');
        exits_json(out, w.vcpu->counters, &window.exits_at_open[w.local]);
    }
    out.chr('}');
}

// A Linux guest's virtual PC, or null.
void linux_json(const Vcpu& ctx, Text& out) {
    out.str(",\"linux\":");
    if (ctx.pc == nullptr) {
        out.str("null");
        return;
    }
    const PcPlatform& pc = *ctx.pc;
    out.str("{\"ready\":").str(ctx.ready ? "true" : "false");
    out.str(",\"timer_programmed\":").dec(pc.counters.timer_armed).str(",\"timer_expired\":").dec(pc.counters.timer_fired);
    out.str(",\"timer_injected\":").dec(pc.counters.timer_injected);
    out.str(",\"interrupts_injected\":").dec(pc.counters.interrupts).str(",\"pic_interrupts\":").dec(pc.counters.pic_interrupts);
    out.str(",\"eois\":").dec(pc.lapic.eois).str(",\"self_ipis\":").dec(pc.lapic.self_ipis);
    out.str(",\"ipis_dropped\":").dec(pc.lapic.ipis_dropped);
    out.str(",\"uart_bytes_sent\":").dec(pc.uart.bytes_sent).str(",\"uart_bytes_received\":").dec(pc.uart.bytes_received);
    out.str(",\"uart_overruns\":").dec(pc.uart.overruns).str(",\"typed_bytes\":").dec(pc.counters.typed_bytes);
    out.str(",\"reset_attempts\":").dec(pc.counters.reset_attempts).str(",\"apic_accesses\":").dec(pc.counters.apic_accesses);
    out.chr('}');
}

void guest_json(const ReportInput& in, const Where& w, std::size_t i, Text& out) {
    const GuestConfig& gc = in.config->guests[i];
    const Scheduler& scheduler = *w.cpu->scheduler;
    const GuestStats& st = scheduler.guest_stats(w.local);
    const Vcpu& ctx = *w.vcpu;
    const std::uint64_t slice_ticks = scheduler.guest_params(w.local).slice_ticks;
    out.str("{\"name\":").json_string(gc.name).str(",\"image\":").json_string(gc.image);
    out.str(",\"cpu\":").dec(w.cpu->cpu);
    out.str(",\"state\":").json_string(guest_state_name(st.activity));
    out.str(",\"exit_reason\":");
    if (ctx.stop.reason == StopReason::none) {
        out.str("null,\"exit_detail\":null");
    } else {
        out.json_string(stop_reason_key(ctx.stop.reason)).str(",\"exit_detail\":").json_string(ctx.stop.detail);
        out.str(",\"exit_code\":").dec(ctx.stop.code).str(",\"exit_rip\":").dec(ctx.stop.rip);
        if (ctx.stop.reason == StopReason::ept_violation) out.str(",\"fault_address\":").dec(ctx.stop.address);
    }
    out.str(",\"yield_on_hlt\":").str(gc.yield_on_hlt ? "true" : "false");
    out.str(",\"slices\":").dec(st.slice.count);
    out.str(",\"allotted_ticks\":").dec(st.allotted).str(",\"ran_ticks\":").dec(st.ran);
    out.str(",\"halted_ticks\":");
    if (st.halted_observable) out.dec(st.halted); else out.str("null");
    out.str(",\"halted_observable\":").str(st.halted_observable ? "true" : "false");
    // Under `shared` a trapped HLT gives the CPU away: the wall time it waited is not part of
    // its allotted time, but it is observed exactly, so it is reported beside it.
    out.str(",\"halted_wall_ticks\":");
    if (st.halted_observable) out.dec(st.halted_wall); else out.str("null");
    out.str(",\"hypervisor_ticks\":").dec(st.hypervisor);
    out.str(",\"share_ppm\":").dec(scheduler.share_ppm(w.local));
    out.str(",\"allotted_ppm\":").dec(scheduler.allotted_ppm(w.local));
    out.str(",\"progress\":").dec(in.progress != nullptr ? in.progress[i] : 0);
    out.str(",\"ticks_seen\":").dec(in.ticks_seen != nullptr ? in.ticks_seen[i] : 0);
    out.chr(',');
    exits_json(out, ctx.counters);
    out.chr(',');
    root_ticks_json(out, ctx.counters);
    out.str(",\"exit_causes\":{");
    for (std::size_t c = 0; c < kExitCauseCount; ++c) {
        if (c != 0) out.chr(',');
        out.chr('"').str(exit_cause_name(static_cast<ExitCause>(c))).str("\":").dec(st.exits[c]);
    }
    out.str("},\"injected_interrupts\":").dec(st.ticks_injected);
    out.str(",\"ticks_due\":").dec(st.ticks_due).str(",\"ticks_coalesced\":").dec(st.ticks_coalesced);
    out.chr(',');
    stat_json(out, "tick_latency_ticks", st.tick_latency);
    out.chr(',');
    stat_json(out, "slice_ticks", st.slice);
    out.str(",\"slice_configured_ticks\":").dec(slice_ticks);
    out.str(",\"io_reads_all_ones\":").dec(ctx.counters.io_reads_all_ones);
    out.str(",\"io_writes_dropped\":").dec(ctx.counters.io_writes_dropped);
    out.str(",\"console_bytes\":").dec(ctx.counters.console_bytes);
    out.str(",\"console_lines_dropped\":").dec(ctx.counters.console_lines_dropped);
    out.str(",\"console_bytes_dropped\":").dec(ctx.counters.console_bytes_dropped);
    out.str(",\"overruns\":").dec(st.overruns).str(",\"overrun_ticks\":").dec(st.overrun_ticks);
    out.str(",\"ud_injected\":").dec(ctx.counters.ud_injected).str(",\"gp_injected\":").dec(ctx.counters.gp_injected);
    out.str(",\"host_interrupts\":").dec(ctx.counters.host_interrupts);
    out.str(",\"last_console_lines\":[");
    for (std::size_t l = 0, n = 0; l < ConsoleBuffer::history; ++l) {
        const char* line = ctx.console.recent(l);
        if (line == nullptr) continue;
        if (n++ != 0) out.chr(',');
        out.json_string(line);
    }
    out.chr(']');
    guest_window_json(w, out);
    linux_json(ctx, out);
    out.chr('}');
}

// The slice timeline for plots: [guest or null, "running"|"halted"|"idle", start, end], times
// in TSC ticks from the start of the run.
void timeline_json(const Timeline& t, Text& out) {
    out.str(",\"timeline\":{\"window_ticks\":").dec(t.window()).str(",\"dropped\":").dec(t.dropped());
    out.str(",\"spans\":[");
    for (std::size_t i = 0; i < t.count(); ++i) {
        const Span& s = t.at(i);
        out.str(i == 0 ? "[" : ",[");
        if (s.kind == SpanKind::idle) out.str("null"); else out.dec(s.guest);
        out.str(",\"").str(span_kind_name(s.kind)).str("\",").dec(s.start - t.start()).chr(',').dec(s.end - t.start()).chr(']');
    }
    out.str("]}");
}

} // namespace

const char* guest_state_name(Activity activity) {
    switch (activity) {
    case Activity::active: return "running";
    case Activity::halted_trapped:
    case Activity::halted_native: return "halted";
    case Activity::dead: return "exited";
    }
    return "unknown";
}

namespace {

// One CPU's part of the table: its run line and its guests.
void cpu_table(const ReportInput& in, const ReportCpu& cpu, Text& out) {
    const RunStats& run = cpu.scheduler->run_stats();
    if (in.cpu_count > 1) out.str("CPU ").dec(cpu.cpu).str(": ");
    if (!cpu.ran) {
        out.str("did not run: ").str(cpu.error).chr('\n');
    } else {
        out.str("Run: ").fixed(tsc_ticks_to_us(run.length(), in.tsc_hz), 0).str(" us (").dec(run.length());
        out.str(" TSC ticks at ").dec(in.tsc_hz).str(" Hz), policy ").str(policy_name(in.config->policy));
        out.str(", idle ").fixed(tsc_ticks_to_us(run.idle, in.tsc_hz), 0).str(" us, switching ");
        out.fixed(tsc_ticks_to_us(run.switching, in.tsc_hz), 0).str(" us\n");
    }
    const bool open = window_open(cpu);
    if (open) {
        out.str("Measured: the last ").dec(tsc_ticks_to_us(cpu.window->length(), in.tsc_hz)).str(" us, from ");
        out.dec(tsc_ticks_to_us(cpu.window->start - run.start, in.tsc_hz)).str(" us, when every guest was ready (share% is of that window)\n");
    }
    out.str("guest").pad_to(12).str("image").pad_to(22).str("state").pad_to(30).str("share%").pad_to(38);
    out.str("slices").pad_to(46).str("ran ms").pad_to(56).str("halted ms").pad_to(67).str("hv ms").pad_to(76);
    out.str("exits").pad_to(86).str("progress").pad_to(100).str("reason\n");
    for (std::size_t i = 0; i < in.guest_count; ++i) {
        const Where w = where(in, i);
        if (w.cpu != &cpu) continue;
        const GuestConfig& gc = in.config->guests[i];
        const GuestStats& st = cpu.scheduler->guest_stats(w.local);
        const Vcpu& ctx = *w.vcpu;
        std::uint64_t exits = ctx.counters.exits_other;
        for (std::uint64_t e : ctx.counters.exits) exits += e;
        out.str(gc.name).pad_to(12).str(gc.image).pad_to(22).str(guest_state_name(st.activity)).pad_to(30);
        if (open) {
            percent(out, ratio_ppm(st.ran - cpu.window->at_open[w.local].ran, cpu.window->length()));
        } else {
            percent(out, cpu.scheduler->share_ppm(w.local));
        }
        out.pad_to(38).dec(st.slice.count).pad_to(46);
        out.fixed(tsc_ticks_to_us(st.ran, in.tsc_hz) / 10, 2).pad_to(56);
        if (st.halted_observable) out.fixed(tsc_ticks_to_us(st.halted, in.tsc_hz) / 10, 2); else out.str("n/a");
        out.pad_to(67).fixed(tsc_ticks_to_us(st.hypervisor, in.tsc_hz) / 10, 2).pad_to(76);
        out.dec(exits).pad_to(86).dec(in.progress != nullptr ? in.progress[i] : 0).pad_to(100);
        out.str(ctx.stop.reason == StopReason::none ? "-" : ctx.stop.detail).chr('\n');
    }
}

// A CPU's run: its length, idle and switching, whether its books add up, its window.
void cpu_run_json(const ReportInput& in, const ReportCpu& cpu, Text& out) {
    const RunStats& run = cpu.scheduler->run_stats();
    out.str("\"duration_ticks\":").dec(run.length());
    out.str(",\"duration_us\":").dec(tsc_ticks_to_us(run.length(), in.tsc_hz));
    out.str(",\"idle_ticks\":").dec(run.idle).str(",\"switching_ticks\":").dec(run.switching);
    out.str(",\"idle_on_behalf_ticks\":").dec(run.idle_on_behalf);
    out.str(",\"protocol_errors\":").dec(run.protocol_errors);
    out.str(",\"totals_add_up\":").str(cpu.scheduler->totals_add_up(0) ? "true" : "false");
    out.str(",\"window\":");
    if (window_open(cpu)) {
        const MeasurementWindow& window = *cpu.window;
        const RunStats& a = window.run_at_open;
        out.str("{\"start_ticks\":").dec(window.start - run.start).str(",\"length_ticks\":").dec(window.length());
        out.str(",\"length_us\":").dec(tsc_ticks_to_us(window.length(), in.tsc_hz));
        out.str(",\"idle_ticks\":").dec(run.idle - a.idle).str(",\"switching_ticks\":").dec(run.switching - a.switching).chr('}');
    } else {
        out.str(cpu.window != nullptr && cpu.window->measure_ticks != 0 ? "{\"opened\":false}" : "null");
    }
}

} // namespace

void write_report_table(const ReportInput& in, Text& out) {
    for (std::size_t c = 0; c < in.cpu_count; ++c) cpu_table(in, in.cpus[c], out);
}

void write_report_json(const ReportInput& in, Text& out) {
    const ReportCpu& first = in.cpus[0];
    out.str("{\"version\":1,\"config\":");
    format_config(*in.config, out);
    out.str(",\"tsc_hz\":").dec(in.tsc_hz).str(",\"tsc_source\":").json_string(in.tsc_configured ? "configured" : "calibrated");
    // The run's own fields are its first CPU's (a one-CPU run's); "cpus" has every CPU's.
    out.chr(',');
    cpu_run_json(in, first, out);
    out.str(",\"platform\":{\"cpu\":").json_string(in.platform);
    out.str(",\"preemption_timer_rate\":").dec(in.timer_rate);
    out.str(",\"extended_state\":").json_string(in.extended_state);
    out.str(",\"idle_method\":").json_string(first.idle_method);
    out.str(",\"feature_control\":").json_string(first.feature_control);
    out.str(",\"fallbacks\":");
    write_fallbacks_json(in.capabilities, out);
    out.str("},\"cpus\":[");
    for (std::size_t c = 0; c < in.cpu_count; ++c) {
        const ReportCpu& cpu = in.cpus[c];
        out.str(c == 0 ? "{" : ",{").str("\"cpu\":").dec(cpu.cpu).str(",\"apic_id\":").dec(cpu.apic_id);
        out.str(",\"ran\":").str(cpu.ran ? "true" : "false").str(",\"error\":");
        if (cpu.error[0] == '\0') out.str("null"); else out.json_string(cpu.error);
        out.str(",\"guests\":[");
        for (std::size_t i = 0, listed = 0; i < in.guest_count; ++i) {
            if (where(in, i).cpu != &cpu) continue;
            if (listed++ != 0) out.chr(',');
            out.json_string(in.config->guests[i].name);
        }
        out.str("],");
        cpu_run_json(in, cpu, out);
        out.str(",\"idle_method\":").json_string(cpu.idle_method);
        out.str(",\"feature_control\":").json_string(cpu.feature_control);
        // The first CPU's timeline is the run's (below).
        if (c != 0) timeline_json(cpu.scheduler->timeline(), out);
        out.chr('}');
    }
    out.str("],\"guests\":[");
    for (std::size_t i = 0; i < in.guest_count; ++i) {
        if (i != 0) out.chr(',');
        guest_json(in, where(in, i), i, out);
    }
    out.chr(']');
    timeline_json(first.scheduler->timeline(), out);
    out.chr('}');
}

} // namespace vmx
