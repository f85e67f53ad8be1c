#include "vmx/hw/session.hpp"

#include <new>

#include "guest/runtime/abi.hpp"
#include "vmx/arch/x86.hpp"
#include "vmx/exits/cpuid_table.hpp"
#include "vmx/hw/cpu.hpp"
#include "vmx/hw/cpu_block.hpp"
#include "vmx/hw/host_features.hpp"

#include "vmx/sched/capacity.hpp"
#include "vmx/guest/elf_image.hpp"
#include "vmx/guest/ept.hpp"
#include "vmx/caps/guest_controls.hpp"
#include "vmx/guest/guest_layout.hpp"
#include "vmx/guest/linux_boot.hpp"
#include "vmx/devices/pc.hpp"
#include "vmx/vmcs/msr_bitmap.hpp"
#include "vmx/vmcs/preemption_timer.hpp"

namespace vmx::hw {
namespace {

// Everything a run needs lives here, not on the (firmware's, small) stack: the guests' Vcpus
// (by position: CPU by CPU), the per-CPU runs, whose blocks (vmx/hw/cpu_block.hpp, with the
// scheduler and VMCS plan) come from the caller's pages. Per-guest arrays are by position too.
Vcpu g_guests[max_guests];
CpuRun g_runs[max_cpus];
GuestParams g_params[max_guests];
ElfImage g_elf;                     // the image file being loaded (one at a time)
GuestEntryState g_entry[max_guests]; // each guest's registers at its first entry
PcPlatform g_pc[max_guests];          // the Linux guests' virtual PCs
LinuxBootPlan g_plan;                 // the Linux guest being built (one at a time)
// The books at the opening of each CPU's measurement window.
GuestStats g_at_open[max_guests];
WindowExits g_exits_at_open[max_guests];
std::uint64_t g_busy_share[max_guests];  // each guest's share when all of its CPU's are busy (CPUID leaves)
const GuestConfig* g_configs[max_guests]; // each position's configuration
std::uint8_t* g_msr_bitmap = nullptr;     // one for every guest: it is only read

// The report's slice timeline covers the first 50 ms of the run (README, "The report").
constexpr std::uint64_t timeline_window_us = 50000;
// With console_input: COM1 is looked at (and queued output sent) at least this often, 1 ms: a
// key's echo comes back within a millisecond or two of TSC time, as from a real serial console.
constexpr std::uint64_t console_poll_us = 1000;
std::size_t pages_for(std::uint64_t bytes) { return static_cast<std::size_t>((bytes + 4095) / 4096); }

void* allocate(const SessionSetup& s, std::size_t pages, const char* what, Text& error) {
    void* p = s.pages.allocate(s.pages.context, pages);
    if (p == nullptr) error.str("out of memory allocating ").dec(pages).str(" pages for ").str(what);
    return p;
}

std::uint64_t physical(const void* p) { return reinterpret_cast<std::uint64_t>(p); }

// A guest image from the ESP (guest/ABI.md, "Guest images from the ESP"). boot/ validated it
// before VMX; it is validated again against this guest's memory, so nothing unchecked is copied.
// The processor's CPUID, for the guests' table (vmx/exits/cpuid_table.hpp).
void processor_cpuid(std::uint32_t leaf, std::uint32_t subleaf, std::uint32_t out[4]) {
    const CpuidResult r = cpuid(leaf, subleaf);
    out[0] = r.eax;
    out[1] = r.ebx;
    out[2] = r.ecx;
    out[3] = r.edx;
}

bool load_image_file(const SessionSetup& s, std::size_t i, const Vcpu& ctx, const HostFeatures& cpu, Text& error) {
    const GuestConfig& gc = s.config->guests[i];
    parse_elf_image(s.image_file[i], s.image_file_size[i], ctx.memory_size, g_elf);
    if (!g_elf.ok || !load_elf_image(ctx.memory, ctx.memory_size, s.image_file[i], s.image_file_size[i], g_elf)) {
        error.str("guest ").str(gc.name).str(": image ").str(gc.image).str(": ").str(g_elf.ok ? "could not be loaded" : g_elf.error);
        return false;
    }
    g_entry[i] = guest_entry_state(ctx.memory_size, g_elf.entry, gc.param, cpu.xsave, cpu.nx);
    return true;
}

// A Linux guest (vmx/guest/linux_boot.hpp): its kernel at its physical addresses, the initrd on
// top, boot_params, the MP table and page tables; its virtual PC and its CPUID answers. boot/
// checked the same files against the same memory; they are checked again here, so nothing
// unchecked is copied.
bool build_linux_guest(const SessionSetup& s, std::size_t i, Vcpu& ctx, const HostFeatures& cpu, CpuBlock& block, Text& error) {
    const GuestConfig& gc = s.config->guests[i];
    const char* cmdline = config_text(*s.config, gc.cmdline);
    std::size_t length = 0;
    while (cmdline[length] != '\0') ++length;
    parse_elf_kernel(s.kernel_file[i], s.kernel_file_size[i], ctx.memory_size, linux_layout::kernel_lowest, g_elf);
    plan_linux_boot(g_elf, ctx.memory_size, s.initrd_file_size[i], length, g_plan);
    const CpuidResult one = cpuid(1);
    MpProcessor processor;
    processor.signature = one.eax;
    processor.features = cpuid_lookup(block.linux_cpuid, 1, 0)[3];
    if (!g_plan.ok || !load_elf_image(ctx.memory, ctx.memory_size, s.kernel_file[i], s.kernel_file_size[i], g_elf) ||
        !write_linux_boot(ctx.memory, ctx.memory_size, g_plan, cmdline, processor)) {
        error.str("guest ").str(gc.name).str(": kernel ").str(gc.kernel).str(": ");
        error.str(!g_elf.ok ? g_elf.error : !g_plan.ok ? g_plan.error : "could not be loaded");
        return false;
    }
    for (std::size_t b = 0; b < g_plan.initrd_size; ++b) ctx.memory[g_plan.initrd_gpa + b] = s.initrd_file[i][b];
    g_entry[i] = linux_entry_state(g_plan, cpu.xsave, cpu.nx);
    ctx.regs.rsi = g_entry[i].rsi;
    g_pc[i] = PcPlatform{};
    g_pc[i].tsc_hz = s.tsc_hz;
    ctx.pc = &g_pc[i];
    ctx.cpuid = &block.linux_cpuid;
    return true;
}

// Guest i of the configuration, at `position` among the Vcpus, `local` in its CPU's schedule.
bool build_guest(const SessionSetup& s, std::size_t i, std::size_t position, std::size_t local, const HostFeatures& cpu,
                 CpuBlock& block, Text& error) {
    const GuestConfig& gc = s.config->guests[i];
    Vcpu& ctx = g_guests[position];
    ctx = Vcpu{};
    ctx.index = static_cast<std::uint32_t>(local);
    ctx.guest_number = static_cast<std::uint32_t>(i);
    ctx.name = gc.name;
    ctx.yield_on_hlt = gc.yield_on_hlt;
    ctx.memory_size = static_cast<std::uint64_t>(gc.memory_mib) << 20;
    ctx.memory = static_cast<std::uint8_t*>(allocate(s, pages_for(ctx.memory_size), "guest memory", error));
    if (ctx.memory == nullptr) return false;
    ctx.own_tsc = gc.tsc == TscMode::own;
    if (gc.runs_kernel()) {
        if (!build_linux_guest(s, i, ctx, cpu, block, error)) return false;
    } else {
        const GuestIdentity id{ctx.guest_number, gc.name, gc.image, gc.param, gc.tick_hz, s.tsc_hz};
        const char* reason = nullptr;
        if (!prepare_guest_memory(ctx.memory, ctx.memory_size, id, &reason) ||
            (gc.image_is_builtin && !load_flat_image(ctx.memory, ctx.memory_size, s.builtin_image, s.builtin_image_size, &reason))) {
            error.str("guest ").str(gc.name).str(": ").str(reason);
            return false;
        }
        g_entry[i] = guest_entry_state(ctx.memory_size, metronome::abi::image_gpa, gc.param, cpu.xsave, cpu.nx);
        if (!gc.image_is_builtin && !load_image_file(s, i, ctx, cpu, error)) return false;
        ctx.regs.rdi = metronome::abi::start_info_gpa;
        ctx.regs.rsi = gc.param;
        ctx.cpuid = &block.cpuid;
    }

    const char* reason = nullptr;
    EptLayout layout{ctx.memory_size, physical(ctx.memory), ept_supports_2m_pages(s.caps), false};
    const std::size_t tables = ept_tables_needed(layout);
    void* pool = allocate(s, tables, "EPT tables", error);
    if (pool == nullptr) return false;
    EptBuilder builder(pool, tables);
    const EptResult ept = builder.build(layout);
    if (!ept.ok || !ept_pointer_supported(ept.eptp, s.caps, &reason)) {
        error.str("guest ").str(gc.name).str(": EPT: ").str(ept.ok ? reason : ept.reason);
        return false;
    }

    auto* vmcs = static_cast<std::uint32_t*>(allocate(s, 1, "a VMCS", error));
    ctx.extended_state = static_cast<std::uint8_t*>(allocate(s, pages_for(cpu.extended_size), "FPU state", error));
    if (vmcs == nullptr || ctx.extended_state == nullptr) return false;
    *vmcs = s.caps.vmcs_revision();  // SDM "VMCS Region": revision identifier first
    ctx.vmcs_physical = physical(vmcs);
    init_extended_state(ctx.extended_state);
    ctx.eptp = ept.eptp;
    ctx.xcr0 = xcr0::x87;  // XCR0's reset value: x87 only
    ctx.xcr0_supported = cpu.xsave ? cpu.xsave_mask : 0;
    return true;
}

// The largest value the run loop may program: the early-expiry erratum's bound, within 32 bits.
std::uint32_t erratum_timer_limit(const SessionSetup& s) {
    const std::uint64_t limit = preemption_timer_erratum_limit(s.cpuid15_eax, s.cpuid15_ebx);
    return limit > 0xffffffffu ? 0xffffffffu : (limit == 0 ? 1u : static_cast<std::uint32_t>(limit));
}

// One CPU's schedule: the global parameters and its guests' (by position).
void fill_schedule(const SessionSetup& s, const CpuRun& run, SchedParams& params) {
    const Config& cfg = *s.config;
    params.policy = cfg.policy;
    params.on_guest_exit = cfg.on_guest_exit;
    params.duration_ticks = us_to_tsc_ticks(static_cast<std::uint64_t>(cfg.duration_ms) * 1000, s.tsc_hz);
    params.timeline_ticks = us_to_tsc_ticks(timeline_window_us, s.tsc_hz); // for the report's plot
    for (std::size_t k = 0; k < run.count; ++k) {
        const GuestConfig& gc = *g_configs[run.first + k];
        GuestParams& p = g_params[run.first + k];
        p = GuestParams{};
        p.slice_ticks = us_to_tsc_ticks(gc.slice_us, s.tsc_hz);
        p.tick_period_ticks = gc.tick_hz == 0 ? 0 : s.tsc_hz / gc.tick_hz;
        p.yield_on_hlt = gc.yield_on_hlt;
        if (cfg.policy == Policy::capped) {
            p.cap_percent = gc.cap_percent;
            p.cap_period_ticks = us_to_tsc_ticks(gc.period_us, s.tsc_hz);
        }
    }
}

// Sets up one CPU's run (on the boot CPU): its block, its pages, its scheduler and options.
bool prepare_cpu(const SessionSetup& s, CpuRun& run, const HostFeatures& cpu, Text& error) {
    void* block_pages = allocate(s, pages_for(sizeof(CpuBlock)), "a CPU block", error);
    run.host_area = static_cast<std::uint8_t*>(allocate(s, pages_for(cpu.extended_size), "host FPU state", error));
    run.vmxon_page = allocate(s, 1, "the VMXON region", error);
    run.gdt_page = allocate(s, 1, "the host GDT", error);
    run.idle_idt_page = allocate(s, 1, "the idle wake-up IDT", error);
    if (block_pages == nullptr || run.host_area == nullptr || run.vmxon_page == nullptr || run.gdt_page == nullptr ||
        run.idle_idt_page == nullptr) return false;
    run.block = new (block_pages) CpuBlock();
    run.block->header.self = run.block;
    run.guests = &g_guests[run.first];
    run.entry = g_entry;
    return true;
}

bool init_cpu_schedule(const SessionSetup& s, CpuRun& run, bool saves_timer, Text& error) {
    const Config& cfg = *s.config;
    Scheduler& scheduler = run.block->scheduler;
    SchedParams params;
    fill_schedule(s, run, params);
    const InitError init = scheduler.init(params, &g_params[run.first], run.count);
    if (init != InitError::none) {
        error.str("CPU ").dec(run.cpu).str(": scheduler: ").str(init_error_text(init));
        return false;
    }
    busy_shares_ppm(scheduler, &g_busy_share[run.first]);
    for (std::size_t k = 0; k < run.count; ++k)
        run.guests[k].capacity = capacity_for(scheduler, &g_configs[run.first], k, g_busy_share[run.first + k]);
    RunOptions& options = run.options;
    options = RunOptions{};
    options.timer_rate = s.caps.preemption_timer_rate();
    options.timer_limit = erratum_timer_limit(s);
    options.timer_saved = saves_timer;
    run.window = MeasurementWindow{};
    run.window.measure_ticks = us_to_tsc_ticks(static_cast<std::uint64_t>(cfg.measure_ms) * 1000, s.tsc_hz);
    run.window.at_open = &g_at_open[run.first];
    run.window.exits_at_open = &g_exits_at_open[run.first];
    options.window = &run.window;
    options.console_guest = run.count; // none
    const GuestConfig* typist = find_guest(cfg, cfg.console_input);
    for (std::size_t k = 0; k < run.count; ++k) {
        if (g_configs[run.first + k] == typist) {
            options.console_guest = k;
            options.console_poll_ticks = us_to_tsc_ticks(console_poll_us, s.tsc_hz);
        }
    }
    return true;
}

} // namespace

bool prepare_session(const SessionSetup& s, SessionResult& r, Text& error) {
    const Config& cfg = *s.config;
    const std::size_t n = cfg.guest_count;
    r = SessionResult{};
    if (n == 0 || n > max_guests) {
        error.str("no guests to run");
        return false;
    }
    bool saves_timer = true;
    std::uint32_t secondary_for_linux = 0; // what RDTSCP and INVPCID a Linux guest may be told of
    for (std::size_t i = 0; i < n; ++i) {
        GuestControlRequest req;
        req.yield_on_hlt = cfg.guests[i].yield_on_hlt;
        req.tsc_offsetting = cfg.guests[i].tsc == TscMode::own;
        const GuestControls gc = resolve_guest_controls(req, s.caps);
        if (!gc.ok) {
            error.str("guest ").str(cfg.guests[i].name).str(": this CPU cannot run it:\n");
            describe_guest_control_failures(gc, error);
            return false;
        }
        saves_timer = saves_timer && gc.saves_preemption_timer;
        if (cfg.guests[i].runs_kernel()) secondary_for_linux = gc.secondary;
    }
    const HostFeatures cpu = read_host_features();
    g_msr_bitmap = static_cast<std::uint8_t*>(allocate(s, 1, "the MSR bitmap", error));
    if (g_msr_bitmap == nullptr) return false;
    build_msr_bitmap(g_msr_bitmap);
    bool any_linux = false;
    for (std::size_t i = 0; i < n; ++i) any_linux = any_linux || cfg.guests[i].runs_kernel();

    // The CPUs in use, by number; each one's guests in configuration order.
    std::size_t position = 0;
    for (std::uint32_t c = 0; c < max_cpus; ++c) {
        CpuRun* run = nullptr;
        for (std::size_t i = 0; i < n; ++i) {
            if (cfg.guests[i].cpu != c) continue;
            if (run == nullptr) {
                run = &g_runs[r.run_count++];
                run->error[0] = '\0';
                run->cpu = c;
                run->first = position;
                run->count = 0;
                run->done = 0;
                run->ran = run->left = false;
                if (!prepare_cpu(s, *run, cpu, error)) return false;
                // The CPUID answers, from the boot CPU's: the CPUs of one machine are one model.
                build_cpuid_table(processor_cpuid, run->block->cpuid);
                if (any_linux) {
                    LinuxCpuidFacts facts;
                    facts.tsc_hz = s.tsc_hz;
                    facts.rdtscp = (secondary_for_linux & proc2::enable_rdtscp) != 0;
                    facts.invpcid = (secondary_for_linux & proc2::enable_invpcid) != 0;
                    build_linux_cpuid_table(processor_cpuid, facts, run->block->linux_cpuid);
                }
            }
            g_configs[position] = &cfg.guests[i];
            r.position[i] = position;
            if (!build_guest(s, i, position, run->count, cpu, *run->block, error)) return false;
            ++run->count;
            ++position;
        }
        if (run != nullptr && !init_cpu_schedule(s, *run, saves_timer, error)) return false;
    }
    for (std::size_t k = 0; k < r.run_count; ++k) {
        CpuBlock& b = *g_runs[k].block;
        b.xsave_mask = cpu.xsave ? cpu.xsave_mask : 0;
        b.rdtscp = cpu.rdtscp;
        b.console = s.console;
        b.console_input = s.console_input;
        b.host_extended_state = g_runs[k].host_area;
        g_runs[k].msr_bitmap = physical(g_msr_bitmap);
    }
    r.guests = g_guests;
    r.guest_count = n;
    r.runs = g_runs;
    r.extended_state = cpu.xsave ? "xsave" : "fxsave";
    r.timer_limit = erratum_timer_limit(s);
    r.prepared = true;
    if (s.log != nullptr) s.log("guests built; entering VMX root operation");
    return true;
}

void finish_session(SessionResult& r) {
    for (std::size_t p = 0; p < r.guest_count; ++p) {
        const Vcpu& ctx = g_guests[p];
        constexpr std::uint64_t info = metronome::abi::start_info_gpa;
        r.progress[ctx.guest_number] = read_guest_u64(ctx.memory, ctx.memory_size, info + offsetof(metronome::abi::StartInfo, progress));
        r.ticks_seen[ctx.guest_number] = read_guest_u64(ctx.memory, ctx.memory_size, info + offsetof(metronome::abi::StartInfo, ticks_seen));
    }
}

} // namespace vmx::hw
