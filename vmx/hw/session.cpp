#include "vmx/hw/session.hpp"

#include "guest/runtime/abi.hpp"
#include "vmx/arch/x86.hpp"
#include "vmx/exits/cpuid_table.hpp"
#include "vmx/hw/cpu_block.hpp"
#include "vmx/vmcs/vmcs_access.hpp"

#include "vmx/sched/capacity.hpp"
#include "vmx/guest/elf_image.hpp"
#include "vmx/guest/ept.hpp"
#include "vmx/caps/guest_controls.hpp"
#include "vmx/guest/guest_layout.hpp"
#include "vmx/guest/linux_boot.hpp"
#include "vmx/devices/pc.hpp"
#include "vmx/hw/cpu.hpp"
#include "vmx/hw/cpu_state.hpp"
#include "vmx/hw/interrupt_masks.hpp"
#include "vmx/hw/vmx_instructions.hpp"
#include "vmx/hw/vmx_root.hpp"
#include "vmx/arch/msr.hpp"
#include "vmx/vmcs/msr_bitmap.hpp"
#include "vmx/vmcs/preemption_timer.hpp"
#include "vmx/arch/vmcs_field_catalogue.hpp"
#include "vmx/vmcs/vmcs_plan.hpp"

namespace vmx::hw {
namespace {

// Everything a run needs lives here, not on the (firmware's, small) stack: the guests' Vcpus
// and the per-CPU block (vmx/hw/cpu_block.hpp), whose scheduler and VMCS plan are there too.
Vcpu g_guests[max_guests];
GuestParams g_params[max_guests];
ElfImage g_elf;                     // the image file being loaded (one at a time)
GuestEntryState g_entry[max_guests]; // each guest's registers at its first entry
PcPlatform g_pc[max_guests];          // the Linux guests' virtual PCs
LinuxBootPlan g_plan;                 // the Linux guest being built (one at a time)
// The measurement window and the books at its opening.
MeasurementWindow g_window;
GuestStats g_at_open[max_guests];
WindowExits g_exits_at_open[max_guests];
std::uint64_t g_busy_share[max_guests];  // each guest's share when all are busy (CPUID leaves)

// The report's slice timeline covers the first 50 ms of the run (README, "The report").
constexpr std::uint64_t timeline_window_us = 50000;
// With console_input: COM1 is looked at (and queued output sent) at least this often, 1 ms: a
// key's echo comes back within a millisecond or two of TSC time, as from a real serial console.
constexpr std::uint64_t console_poll_us = 1000;
// XCR0 components the hypervisor switches: x87, SSE, AVX and the three AVX-512 components.
// Others (MPX, PKRU, AMX) stay disabled in guests.
constexpr std::uint64_t switched_xcr0 = xcr0::x87 | xcr0::sse | xcr0::avx | xcr0::avx512;

struct Cpu {
    bool xsave = false, rdtscp = false, nx = false;
    std::uint64_t xsave_mask = 0;
    std::size_t extended_size = 512;
};

Cpu read_cpu() {
    Cpu c;
    const CpuidResult one = cpuid(1);
    c.xsave = (one.ecx & cpuid_bit::xsave) != 0;
    const CpuidResult ext = cpuid(0x80000001u);
    c.rdtscp = (ext.edx & cpuid_bit::rdtscp) != 0;
    c.nx = (ext.edx & cpuid_bit::nx) != 0;
    if (c.xsave) {
        const CpuidResult d = cpuid(0xd, 0);
        c.xsave_mask = ((static_cast<std::uint64_t>(d.edx) << 32) | d.eax) & switched_xcr0;
        c.extended_size = d.ecx;  // the largest area any XCR0 needs
    }
    return c;
}

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

bool load_image_file(const SessionSetup& s, std::size_t i, const Vcpu& ctx, const Cpu& cpu, Text& error) {
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
bool build_linux_guest(const SessionSetup& s, std::size_t i, Vcpu& ctx, const Cpu& cpu, Text& error) {
    const GuestConfig& gc = s.config->guests[i];
    const char* cmdline = config_text(*s.config, gc.cmdline);
    std::size_t length = 0;
    while (cmdline[length] != '\0') ++length;
    parse_elf_kernel(s.kernel_file[i], s.kernel_file_size[i], ctx.memory_size, linux_layout::kernel_lowest, g_elf);
    plan_linux_boot(g_elf, ctx.memory_size, s.initrd_file_size[i], length, g_plan);
    const CpuidResult one = cpuid(1);
    MpProcessor processor;
    processor.signature = one.eax;
    processor.features = cpuid_lookup(this_cpu().linux_cpuid, 1, 0)[3];
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
    ctx.cpuid = &this_cpu().linux_cpuid;
    return true;
}

bool build_guest(const SessionSetup& s, std::size_t i, const Cpu& cpu, Text& error) {
    const GuestConfig& gc = s.config->guests[i];
    Vcpu& ctx = g_guests[i];
    ctx = Vcpu{};
    ctx.index = static_cast<std::uint32_t>(i);
    ctx.name = gc.name;
    ctx.yield_on_hlt = gc.yield_on_hlt;
    ctx.memory_size = static_cast<std::uint64_t>(gc.memory_mib) << 20;
    ctx.memory = static_cast<std::uint8_t*>(allocate(s, pages_for(ctx.memory_size), "guest memory", error));
    if (ctx.memory == nullptr) return false;
    ctx.own_tsc = gc.tsc == TscMode::own;
    if (gc.runs_kernel()) {
        if (!build_linux_guest(s, i, ctx, cpu, error)) return false;
    } else {
        const GuestIdentity id{ctx.index, gc.name, gc.image, gc.param, gc.tick_hz, s.tsc_hz};
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
        ctx.cpuid = &this_cpu().cpuid;
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

HostState read_host_state() {
    HostState h;
    h.cr0 = read_cr0();
    h.cr3 = read_cr3();
    h.cr4 = read_cr4();
    h.cs = read_cs();
    h.ss = read_ss();
    h.ds = read_ds();
    h.es = read_es();
    h.fs = read_fs();
    h.gs = read_gs();
    h.tr = this_cpu().root.host_tr();
    h.fs_base = rdmsr(msr::ia32_fs_base);
    h.gs_base = rdmsr(msr::ia32_gs_base);
    h.tr_base = this_cpu().root.host_tr_base();
    h.gdtr_base = this_cpu().root.host_gdtr_base();
    h.idtr_base = sidt().base;
    h.sysenter_cs = rdmsr(msr::ia32_sysenter_cs);
    h.sysenter_esp = rdmsr(msr::ia32_sysenter_esp);
    h.sysenter_eip = rdmsr(msr::ia32_sysenter_eip);
    h.efer = rdmsr(msr::ia32_efer);
    h.pat = rdmsr(msr::ia32_pat);
    h.rip = reinterpret_cast<std::uint64_t>(&metronome_vm_exit);
    return h;
}

bool write_vmcs(const SessionSetup& s, std::size_t i, const HostState& host,
                std::uint64_t msr_bitmap, Text& error) {
    const GuestConfig& gc = s.config->guests[i];
    Vcpu& ctx = g_guests[i];
    VmcsPlan& plan = this_cpu().plan;
    if (vmclear(ctx.vmcs_physical) != VmxStatus::ok || vmptrld(ctx.vmcs_physical) != VmxStatus::ok) {
        error.str("guest ").str(gc.name).str(": VMCLEAR/VMPTRLD of its VMCS failed");
        return false;
    }
    GuestPlanInput in;
    in.controls.yield_on_hlt = gc.yield_on_hlt;
    in.controls.tsc_offsetting = gc.tsc == TscMode::own;
    in.entry = g_entry[i];
    in.eptp = ctx.eptp;
    in.vpid = static_cast<std::uint16_t>(i + 1);
    in.msr_bitmap = msr_bitmap;
    build_guest_plan(s.caps, in, host, plan);
    if (!plan.ok()) {
        error.str("guest ").str(gc.name).str(": ");
        describe_plan_failure(plan, error);
        return false;
    }
    for (unsigned w = 0; w < plan.count; ++w) {
        if (!vmcs::write(plan.writes[w].field, plan.writes[w].value)) {
            error.str("guest ").str(gc.name).str(": VMWRITE ").str(field_name(plan.writes[w].field)).str(" = ");
            error.hex(plan.writes[w].value).str(" failed: ").str(vm_instruction_error_text(this_cpu().last_instruction_error));
            return false;
        }
    }
    // TEST ONLY (test_corrupt_guest_state): RFLAGS with bit 1 clear breaks a guest-state check
    // (SDM "Checks on Guest RIP, RFLAGS, and SSP": bit 1 must be 1), so this guest's VM entry
    // fails with exit reason 33 and the run loop stops it; the other guests are not touched.
    if (gc.test_corrupt_guest_state && !vmcs::write(Field::guest_rflags, 0)) {
        error.str("guest ").str(gc.name).str(": VMWRITE of the test-only corrupt RFLAGS failed");
        return false;
    }
    return true;
}

// The largest value the run loop may program: the early-expiry erratum's bound, within 32 bits.
std::uint32_t erratum_timer_limit(const SessionSetup& s) {
    const std::uint64_t limit = preemption_timer_erratum_limit(s.cpuid15_eax, s.cpuid15_ebx);
    return limit > 0xffffffffu ? 0xffffffffu : (limit == 0 ? 1u : static_cast<std::uint32_t>(limit));
}

void fill_schedule(const SessionSetup& s, SchedParams& params) {
    const Config& cfg = *s.config;
    params.policy = cfg.policy;
    params.on_guest_exit = cfg.on_guest_exit;
    params.duration_ticks = us_to_tsc_ticks(static_cast<std::uint64_t>(cfg.duration_ms) * 1000, s.tsc_hz);
    params.timeline_ticks = us_to_tsc_ticks(timeline_window_us, s.tsc_hz); // for the report's plot
    for (unsigned i = 0; i < cfg.guest_count; ++i) {
        const GuestConfig& gc = cfg.guests[i];
        GuestParams& p = g_params[i];
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

} // namespace

bool run_session(const SessionSetup& s, SessionResult& r, Text& error) {
    const Config& cfg = *s.config;
    const std::size_t n = cfg.guest_count;
    CpuBlock& cpu_block = this_cpu();
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
    const Cpu cpu = read_cpu();
    build_cpuid_table(processor_cpuid, cpu_block.cpuid);
    bool any_linux = false;
    for (std::size_t i = 0; i < n; ++i) any_linux = any_linux || cfg.guests[i].runs_kernel();
    if (any_linux) {
        LinuxCpuidFacts facts;
        facts.tsc_hz = s.tsc_hz;
        facts.rdtscp = (secondary_for_linux & proc2::enable_rdtscp) != 0;
        facts.invpcid = (secondary_for_linux & proc2::enable_invpcid) != 0;
        build_linux_cpuid_table(processor_cpuid, facts, cpu_block.linux_cpuid);
    }
    auto* msr_bitmap = static_cast<std::uint8_t*>(allocate(s, 1, "the MSR bitmap", error));
    auto* host_area = static_cast<std::uint8_t*>(allocate(s, pages_for(cpu.extended_size), "host FPU state", error));
    void* vmxon_page = allocate(s, 1, "the VMXON region", error);
    void* gdt_page = allocate(s, 1, "the host GDT", error);
    void* idle_idt_page = allocate(s, 1, "the idle wake-up IDT", error);
    if (msr_bitmap == nullptr || host_area == nullptr || vmxon_page == nullptr || gdt_page == nullptr ||
        idle_idt_page == nullptr) return false;
    r.kept_page = gdt_page;
    build_msr_bitmap(msr_bitmap);
    for (std::size_t i = 0; i < n; ++i) {
        if (!build_guest(s, i, cpu, error)) return false;
    }
    if (s.log != nullptr) s.log("guests built; entering VMX root operation");

    // XSAVE needs CR4.OSXSAVE in the host too; the firmware may not have set it.
    const std::uint64_t firmware_cr4 = read_cr4();
    std::uint64_t firmware_xcr0 = 0;
    if (cpu.xsave) {
        if ((firmware_cr4 & cr4::osxsave) == 0) write_cr4(firmware_cr4 | cr4::osxsave);
        firmware_xcr0 = (firmware_cr4 & cr4::osxsave) != 0 ? xgetbv0() : 1;
    }
    auto restore_extended_control = [&]() {
        if (cpu.xsave) xsetbv0(firmware_xcr0);
        write_cr4(firmware_cr4);
    };
    if (!cpu_block.root.enter(s.caps, vmxon_page, gdt_page, error, cfg.test_fail_vmxon)) {
        restore_extended_control();
        return false;
    }
    r.feature_control = cpu_block.root.feature_control_words();
    cpu_block.xsave_mask = cpu.xsave ? cpu.xsave_mask : 0;
    cpu_block.rdtscp = cpu.rdtscp;
    cpu_block.console = s.console;
    cpu_block.background = s.background;
    cpu_block.console_input = s.console_input;
    cpu_block.host_extended_state = host_area;
    const HostState host = read_host_state();
    for (std::size_t i = 0; i < n; ++i) {
        if (!write_vmcs(s, i, host, physical(msr_bitmap), error)) {
            for (std::size_t j = 0; j <= i; ++j) vmclear(g_guests[j].vmcs_physical);
            cpu_block.root.leave(error);
            restore_extended_control();
            return false;
        }
    }

    Scheduler& scheduler = cpu_block.scheduler;
    SchedParams params;
    fill_schedule(s, params);
    const InitError init = scheduler.init(params, g_params, n);
    if (init != InitError::none) {
        error.str("scheduler: ").str(init_error_text(init));
        for (std::size_t j = 0; j < n; ++j) vmclear(g_guests[j].vmcs_physical);
        cpu_block.root.leave(error);
        restore_extended_control();
        return false;
    }
    busy_shares_ppm(scheduler, g_busy_share);
    for (std::size_t i = 0; i < n; ++i) g_guests[i].capacity = capacity_for(scheduler, cfg, i, g_busy_share[i]);
    RunOptions options;
    options.timer_rate = s.caps.preemption_timer_rate();
    options.timer_limit = erratum_timer_limit(s);
    options.timer_saved = saves_timer;
    g_window = MeasurementWindow{};
    g_window.measure_ticks = us_to_tsc_ticks(static_cast<std::uint64_t>(cfg.measure_ms) * 1000, s.tsc_hz);
    g_window.at_open = g_at_open;
    g_window.exits_at_open = g_exits_at_open;
    options.window = &g_window;
    if (const GuestConfig* typist = find_guest(cfg, cfg.console_input); typist != nullptr) {
        options.console_guest = static_cast<std::size_t>(typist - cfg.guests);
        options.console_poll_ticks = us_to_tsc_ticks(console_poll_us, s.tsc_hz);
    }
    r.window = &g_window;
    r.timer_limit = options.timer_limit;
    r.extended_state = cpu.xsave ? "xsave" : "fxsave";
    if (s.log != nullptr) s.log("running guests");

    cpu_block.masks.mask_all();
    cpu_block.idle.init(idle_idt_page);  // after mask_all: the firmware's APIC timer is saved first
    save_host_state(cpu_block);
    // Every VM exit sets the host's GDTR and IDTR limits to 0xFFFF (SDM "Loading Host Segment
    // and Descriptor-Table Registers"); the GDTR is reloaded when VMX root is left, the IDTR here.
    const DescriptorTablePointer firmware_idt = sidt();
    cpu_block.loaded = nullptr;
    run_guests(scheduler, g_guests, n, options);
    // The last guest's state goes back into its area before the host's comes back.
    restore_host_state(cpu_block, cpu_block.loaded);
    lidt(firmware_idt);
    cpu_block.masks.restore();
    cpu_block.idle.finish();
    r.idle_method = cpu_block.idle.description();
    if (s.log != nullptr) {
        FixedText<160> line;
        line.str("idle: ").dec(cpu_block.idle.sleeps()).str(" mwait sleeps, ").dec(cpu_block.idle.wake_interrupts()).str(" wake-up interrupts taken");
        line.str(", monitor line ").hex(cpu_block.idle.monitor_line()).str(", IA32_MTRR_DEF_TYPE ").hex(cpu_block.idle.mtrr_default_type());
        s.log(line.c_str());
    }

    for (std::size_t i = 0; i < n; ++i) vmclear(g_guests[i].vmcs_physical);
    const bool left = cpu_block.root.leave(error);
    restore_extended_control();

    r.ran = true;
    r.scheduler = &scheduler;
    r.guests = g_guests;
    r.guest_count = n;
    r.vmx_failed_accesses = cpu_block.failed_accesses;
    for (std::size_t i = 0; i < n; ++i) {
        const Vcpu& ctx = g_guests[i];
        constexpr std::uint64_t info = metronome::abi::start_info_gpa;
        r.progress[i] = read_guest_u64(ctx.memory, ctx.memory_size, info + offsetof(metronome::abi::StartInfo, progress));
        r.ticks_seen[i] = read_guest_u64(ctx.memory, ctx.memory_size, info + offsetof(metronome::abi::StartInfo, ticks_seen));
    }
    return left;
}

} // namespace vmx::hw
