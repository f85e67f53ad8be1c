// vmcs-plan: the ordered VMCS writes metronome.efi would make for one guest on a given CPU.
//
//   vmcs-plan --caps FILE [--yield-on-hlt 0|1] [--paging-off] [--slice-us N] [--tsc-hz N]
//             [--memory-mib N] [--cpuid15 EAX:EBX]
//
// Without --yield-on-hlt it prints both plans (HLT exiting off, then on). If the CPU cannot run
// the guest it prints the precise refusal on stderr and exits 2. Host-state values are
// placeholders here: metronome.efi reads the real ones when it runs.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "vmx/caps/caps_text.hpp"
#include "vmx/vmcs/preemption_timer.hpp"
#include "vmx/arch/vmcs_field_catalogue.hpp"
#include "vmx/vmcs/vmcs_plan.hpp"

namespace {

struct Options {
    std::string caps_file;
    int yield_on_hlt = -1;  // -1: both
    bool paging_off = false;
    std::uint64_t slice_us = 1000;
    std::uint64_t tsc_hz = 1000000000;
    std::uint64_t memory_mib = 2;
    std::uint32_t cpuid15_eax = 0, cpuid15_ebx = 0;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "vmcs-plan: %s\nusage: vmcs-plan --caps FILE [--yield-on-hlt 0|1] [--paging-off]"
                 " [--slice-us N] [--tsc-hz N] [--memory-mib N] [--cpuid15 EAX:EBX]\n",
                 why);
    std::exit(64);
}

std::uint64_t number(const char* text, const char* option) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(text, &end, 0);
    if (end == text || *end != '\0') {
        std::fprintf(stderr, "vmcs-plan: %s: '%s' is not a number\n", option, text);
        std::exit(64);
    }
    return v;
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage(("missing value for " + a).c_str());
            return argv[++i];
        };
        if (a == "--caps") o.caps_file = value();
        else if (a == "--yield-on-hlt") {
            const std::string v = value();
            if (v != "0" && v != "1") usage("--yield-on-hlt takes 0 or 1");
            o.yield_on_hlt = v == "1";
        } else if (a == "--paging-off") o.paging_off = true;
        else if (a == "--slice-us") o.slice_us = number(value(), "--slice-us");
        else if (a == "--tsc-hz") o.tsc_hz = number(value(), "--tsc-hz");
        else if (a == "--memory-mib") o.memory_mib = number(value(), "--memory-mib");
        else if (a == "--cpuid15") {
            const std::string v = value();
            const auto colon = v.find(':');
            if (colon == std::string::npos) usage("--cpuid15 takes EAX:EBX");
            o.cpuid15_eax = static_cast<std::uint32_t>(number(v.substr(0, colon).c_str(), "--cpuid15"));
            o.cpuid15_ebx = static_cast<std::uint32_t>(number(v.substr(colon + 1).c_str(), "--cpuid15"));
        } else if (a == "-h" || a == "--help") usage("prints the VMCS writes for one guest");
        else usage(("unknown option " + a).c_str());
    }
    if (o.caps_file.empty()) usage("--caps FILE is required");
    return o;
}

// Representative host state, marked as such in the output.
vmx::HostState example_host() {
    vmx::HostState h;
    h.cr0 = 0x80010033;
    h.cr3 = 0x1000000;
    h.cr4 = 0x2668;
    h.cs = 0x38;
    h.ss = h.ds = h.es = h.fs = h.gs = 0x30;
    h.tr = 0x48;
    h.tr_base = 0x7000000;
    h.gdtr_base = 0x7001000;
    h.idtr_base = 0x7002000;
    h.efer = 0xd00;
    h.pat = 0x0007040600070406ull;
    h.rip = 0x6000000;
    return h;
}

int print_plan(const Options& o, const vmx::VmxCaps& caps, bool yield_on_hlt) {
    const std::uint64_t memory = o.memory_mib << 20;
    vmx::GuestPlanInput in;
    in.controls.yield_on_hlt = yield_on_hlt;
    in.controls.paging_off_at_entry = o.paging_off;
    in.entry = vmx::guest_entry_state(memory, metronome::abi::image_gpa, 0, false, true);
    in.eptp = 0x8000000 | 0x1e;  // placeholder EPT root, WB, 4-level
    in.msr_bitmap = 0x8100000;
    const auto timer = vmx::preemption_timer_value(o.slice_us, o.tsc_hz, caps.preemption_timer_rate(),
                                                   o.cpuid15_eax, o.cpuid15_ebx);
    in.preemption_timer = timer.value;

    vmx::VmcsPlan plan;
    vmx::build_guest_plan(caps, in, example_host(), plan);
    if (!plan.ok()) {
        vmx::FixedText<2048> why;
        vmx::describe_plan_failure(plan, why);
        std::fprintf(stderr, "vmcs-plan: %s: this CPU cannot run the guest (yield_on_hlt=%d%s):\n%s",
                     o.caps_file.c_str(), yield_on_hlt ? 1 : 0, o.paging_off ? ", paging off at entry" : "",
                     why.c_str());
        return 2;
    }
    vmx::FixedText<256> timer_text;
    vmx::describe_preemption_timer_value(timer, caps.preemption_timer_rate(), timer_text);
    std::printf("# vmcs-plan: caps=%s yield_on_hlt=%d paging_off=%d slice_us=%llu tsc_hz=%llu memory_mib=%llu\n",
                o.caps_file.c_str(), yield_on_hlt ? 1 : 0, o.paging_off ? 1 : 0,
                static_cast<unsigned long long>(o.slice_us), static_cast<unsigned long long>(o.tsc_hz),
                static_cast<unsigned long long>(o.memory_mib));
    std::printf("# preemption timer: %s\n", timer_text.c_str());
    std::printf("# VPID %s; host-state values and physical addresses are placeholders (read at run time)\n",
                plan.controls.vpid ? "on" : "off (not offered by this CPU)");
    for (unsigned i = 0; i < plan.count; ++i) {
        const auto& w = plan.writes[i];
        std::printf("%3u 0x%04x %-40s 0x%016llx\n", i + 1, vmx::field_encoding(w.field),
                    vmx::field_name(w.field), static_cast<unsigned long long>(w.value));
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    std::ifstream file(o.caps_file);
    if (!file) {
        std::fprintf(stderr, "vmcs-plan: cannot read %s\n", o.caps_file.c_str());
        return 66;
    }
    std::stringstream text;
    text << file.rdbuf();
    const std::string s = text.str();
    const vmx::CapsParseResult caps = vmx::parse_caps_text(s.data(), s.size());
    if (!caps.ok) {
        std::fprintf(stderr, "vmcs-plan: %s: %s\n", o.caps_file.c_str(), caps.error);
        return 65;
    }
    if (o.yield_on_hlt >= 0) return print_plan(o, caps.caps, o.yield_on_hlt == 1);
    const int off = print_plan(o, caps.caps, false);
    if (off != 0) return off;
    std::printf("\n");
    return print_plan(o, caps.caps, true);
}
