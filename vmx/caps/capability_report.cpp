#include "vmx/caps/capability_report.hpp"

#include "vmx/caps/feature_control.hpp"

#include "vmx/caps/caps_text.hpp"
#include "vmx/lib/text.hpp"

namespace vmx {
namespace {

// A control MSR's high half says which bits may be 1 (allowed-1), its low half which must be 1.
constexpr bool allowed1(std::uint64_t ctl_msr, unsigned n) {
    return (ctl_msr >> (32 + n)) & 1;
}
constexpr bool must_be1(std::uint64_t ctl_msr, unsigned n) {
    return (ctl_msr >> n) & 1;
}

// Control bit positions (SDM "VM-Execution Controls", "VM-Exit Controls").
constexpr unsigned pin_preemption_timer = 6;
constexpr unsigned proc_hlt_exiting = 7;
constexpr unsigned proc2_enable_ept = 1;
constexpr unsigned proc2_enable_vpid = 5;
constexpr unsigned proc2_unrestricted_guest = 7;
constexpr unsigned exit_save_preemption_timer = 22;
// IA32_VMX_EPT_VPID_CAP bits.
constexpr unsigned ept_cap_walk4 = 6;
constexpr unsigned ept_cap_write_back = 14;
constexpr unsigned ept_cap_2mib = 16;

constexpr bool bit(std::uint64_t v, unsigned n) {
    return (v >> n) & 1;
}

FeatureControl feature_control_state(const CpuFacts& f) {
    if (!f.vmx) return FeatureControl::not_read;
    // The same decision VMX root entry acts on (vmx/caps/feature_control.hpp), so the report can
    // never promise what VMXON would then refuse.
    switch (decide_feature_control(f.feature_control).action) {
    case FeatureControlAction::lock_enable: return FeatureControl::unlocked;
    case FeatureControlAction::ready: return FeatureControl::locked_vmx_on;
    case FeatureControlAction::locked_off: return FeatureControl::locked_vmx_off;
    }
    return FeatureControl::locked_vmx_off;
}

const char* feature_control_words(FeatureControl s) {
    switch (s) {
    case FeatureControl::not_read:
        return "not read (no VMX)";
    case FeatureControl::unlocked:
        return "unlocked (Metronome will enable VMXON outside SMX and lock it)";
    case FeatureControl::locked_vmx_on:
        return "locked with VMXON outside SMX enabled";
    case FeatureControl::locked_vmx_off:
        return "locked with VMX off: firmware locked VMX off: Metronome cannot run";
    }
    return "?";
}

const char* feature_control_key(FeatureControl s) {
    switch (s) {
    case FeatureControl::not_read:
        return "not_read";
    case FeatureControl::unlocked:
        return "unlocked";
    case FeatureControl::locked_vmx_on:
        return "locked_vmx_on";
    case FeatureControl::locked_vmx_off:
        return "locked_vmx_off";
    }
    return "?";
}

const char* need_words(Need n) {
    switch (n) {
    case need_vmx:
        return "VMX (CPUID.1:ECX[5] = 0)";
    case need_vmx_enabled:
        return "VMX enabled by the firmware (IA32_FEATURE_CONTROL is locked with VMXON off)";
    case need_secondary_controls:
        return "secondary processor-based controls";
    case need_preemption_timer:
        return "the VMX preemption timer";
    case need_save_preemption_timer:
        return "save VMX-preemption timer value on VM exit";
    case need_ept:
        return "EPT with 4-level walks and write-back paging structures";
    case need_hlt_exiting:
        return "HLT exiting that can be turned on and off";
    case need_hlt_activity:
        return "the HLT activity state (IA32_VMX_MISC[6])";
    case need_unrestricted_guest:
        return "unrestricted guest (optional: only guests that start with paging off need it)";
    case need_vpid:
        return "VPID (optional)";
    }
    return "?";
}

constexpr Need all_needs[] = {need_vmx,
                              need_vmx_enabled,
                              need_secondary_controls,
                              need_preemption_timer,
                              need_save_preemption_timer,
                              need_ept,
                              need_hlt_exiting,
                              need_hlt_activity,
                              need_unrestricted_guest,
                              need_vpid};

const char* yes_no(bool b) {
    return b ? "yes" : "no";
}

// The brand string is right-aligned on some CPUs: drop the leading spaces.
const char* trimmed(const char* s) {
    while (*s == ' ')
        ++s;
    return s;
}

// The capability MSRs in the order of their numbers; names come from vmx/caps/caps_text.hpp.
constexpr std::uint64_t VmxCaps::*msr_fields[] = {
    &VmxCaps::basic,          &VmxCaps::pinbased_ctls,      &VmxCaps::procbased_ctls,
    &VmxCaps::exit_ctls,      &VmxCaps::entry_ctls,         &VmxCaps::misc,
    &VmxCaps::cr0_fixed0,     &VmxCaps::cr0_fixed1,         &VmxCaps::cr4_fixed0,
    &VmxCaps::cr4_fixed1,     &VmxCaps::vmcs_enum,          &VmxCaps::procbased_ctls2,
    &VmxCaps::ept_vpid_cap,   &VmxCaps::true_pinbased_ctls, &VmxCaps::true_procbased_ctls,
    &VmxCaps::true_exit_ctls, &VmxCaps::true_entry_ctls,
};
static_assert(sizeof(msr_fields) / sizeof(msr_fields[0]) == caps_msr_count);

// The existence rules of read_vmx_caps (vmx/caps/caps_read.hpp), so the JSON lists exactly the MSRs
// that were read rather than zeros that look like values.
constexpr bool secondary_controls_readable(const VmxCaps& c) {
    return bit(c.procbased_ctls, 63);
}
constexpr bool ept_vpid_cap_readable(const VmxCaps& c) {
    return secondary_controls_readable(c) && (allowed1(c.procbased_ctls2, proc2_enable_ept) ||
                                              allowed1(c.procbased_ctls2, proc2_enable_vpid));
}

bool was_read(const VmxCaps& c, std::uint32_t index) {
    switch (index) {
    case msr::ia32_vmx_procbased_ctls2:
        return secondary_controls_readable(c);
    case msr::ia32_vmx_ept_vpid_cap:
        return ept_vpid_cap_readable(c);
    case msr::ia32_vmx_true_pinbased_ctls:
    case msr::ia32_vmx_true_procbased_ctls:
    case msr::ia32_vmx_true_exit_ctls:
    case msr::ia32_vmx_true_entry_ctls:
        return c.has_true_controls();
    default:
        return true;
    }
}

void json_bool(Text& out, const char* key, bool v) {
    out.chr(',').json_string(key).chr(':').str(v ? "true" : "false");
}

void json_hex(Text& out, const char* key, std::uint64_t v, unsigned digits) {
    FixedText<24> hex;
    hex.hex(v, digits);
    out.json_string(key).chr(':').json_string(hex.c_str());
}

void json_needs(Text& out, const char* key, std::uint16_t lacks) {
    out.chr(',').json_string(key).str(":[");
    bool first = true;
    for (Need n : all_needs) {
        if ((lacks & n) == 0) continue;
        if (!first) out.chr(',');
        out.json_string(need_key(n));
        first = false;
    }
    out.chr(']');
}

} // namespace

void read_vmx_msrs(CpuFacts& facts, const MsrReader& reader) {
    if (!facts.vmx) return; // without VMX these MSRs do not exist: RDMSR would raise #GP
    facts.feature_control = reader.read(msr::ia32_feature_control);
    facts.caps = read_vmx_caps(reader);
}

const char* need_key(Need n) {
    switch (n) {
    case need_vmx:
        return "vmx";
    case need_vmx_enabled:
        return "vmx_enabled";
    case need_secondary_controls:
        return "secondary_controls";
    case need_preemption_timer:
        return "preemption_timer";
    case need_save_preemption_timer:
        return "save_preemption_timer";
    case need_ept:
        return "ept";
    case need_hlt_exiting:
        return "hlt_exiting";
    case need_hlt_activity:
        return "hlt_activity";
    case need_unrestricted_guest:
        return "unrestricted_guest";
    case need_vpid:
        return "vpid";
    }
    return "?";
}

const char* need_reason(Need n) {
    switch (n) {
    case need_vmx:
        return "Metronome is a VMX hypervisor; this CPU (or the emulator or hypervisor it runs "
               "under) does not offer VMX";
    case need_vmx_enabled:
        return "the firmware locked VMX off; only a firmware setting can turn it on";
    case need_secondary_controls:
        return "EPT is a secondary control";
    case need_preemption_timer:
        return "it is what ends every slice: without it a guest could keep the CPU as long as it "
               "likes, and Metronome has no other slice timer";
    case need_save_preemption_timer:
        return "without it the timer is re-armed from the TSC at every VM entry";
    case need_ept:
        return "it is how each guest's memory is isolated from the host and the other guests; "
               "Metronome has no shadow paging";
    case need_hlt_exiting:
        return "yield_on_hlt = 1 and = 0 are the two behaviours Metronome offers";
    case need_hlt_activity:
        return "a guest that halts natively (yield_on_hlt = 0) must be re-entered halted when "
               "its next slice starts";
    case need_unrestricted_guest:
        return "not needed: every guest starts in 64-bit mode with paging on";
    case need_vpid:
        return "without it the guests' TLB entries are flushed at every VM entry and exit";
    }
    return "?";
}

void describe_cpu_refusal(const Capabilities& caps, Text& out) {
    if (caps.can_run()) return;
    out.str("this CPU cannot run Metronome: it lacks ");
    bool first = true;
    for (Need n : all_needs) {
        if ((caps.lacks & n) == 0 || (n & optional_needs) != 0) continue;
        if (!first) out.str("; ");
        out.str(need_words(n)).str(": ").str(need_reason(n));
        first = false;
    }
}

void write_fallbacks_json(const Capabilities& caps, Text& out) {
    out.chr('[');
    bool first = true;
    for (Need n : all_needs) {
        if ((caps.lacks & n) == 0 || (n & optional_needs) == 0) continue;
        if (!first) out.chr(',');
        out.str("{\"lacks\":").json_string(need_key(n)).str(",\"instead\":").json_string(need_reason(n)).chr('}');
        first = false;
    }
    out.chr(']');
}

void describe_cpu_fallbacks(const Capabilities& caps, Text& out) {
    bool first = true;
    for (Need n : all_needs) {
        if ((caps.lacks & n) == 0 || (n & optional_needs) == 0) continue;
        if (!first) out.str("; ");
        out.str("no ").str(need_key(n)).str(": ").str(need_reason(n));
        first = false;
    }
}

Capabilities assess_capabilities(const CpuFacts& f) {
    Capabilities r;
    r.vmx = f.vmx;
    r.feature_control = feature_control_state(f);
    if (!f.vmx) {
        r.lacks = need_vmx; // nothing else can be known: the capability MSRs do not exist
        return r;
    }
    const VmxCaps& c = f.caps;
    // With IA32_VMX_BASIC[55] the TRUE MSRs give the real must-be-1 bits (allowed-1 is the same).
    r.true_controls = c.has_true_controls();
    const std::uint64_t pin = r.true_controls ? c.true_pinbased_ctls : c.pinbased_ctls;
    const std::uint64_t proc = r.true_controls ? c.true_procbased_ctls : c.procbased_ctls;
    const std::uint64_t exit = r.true_controls ? c.true_exit_ctls : c.exit_ctls;

    r.preemption_timer = allowed1(pin, pin_preemption_timer);
    r.preemption_timer_rate = c.preemption_timer_rate();
    r.save_preemption_timer = allowed1(exit, exit_save_preemption_timer);
    r.hlt_exiting = allowed1(proc, proc_hlt_exiting) && !must_be1(proc, proc_hlt_exiting);
    r.hlt_activity = c.supports_hlt_activity();
    // The same test read_vmx_caps used to decide whether PROCBASED_CTLS2 was read at all.
    r.secondary_controls = secondary_controls_readable(c);
    if (r.secondary_controls) {
        r.ept = allowed1(c.procbased_ctls2, proc2_enable_ept);
        r.vpid = allowed1(c.procbased_ctls2, proc2_enable_vpid);
        r.unrestricted_guest = allowed1(c.procbased_ctls2, proc2_unrestricted_guest);
    }
    if (r.ept) {
        r.ept_walk4 = bit(c.ept_vpid_cap, ept_cap_walk4);
        r.ept_write_back = bit(c.ept_vpid_cap, ept_cap_write_back);
        r.ept_2mib_pages = bit(c.ept_vpid_cap, ept_cap_2mib);
    }

    std::uint16_t lacks = 0;
    if (r.feature_control == FeatureControl::locked_vmx_off) lacks |= need_vmx_enabled;
    if (!r.secondary_controls) lacks |= need_secondary_controls;
    if (!r.preemption_timer) lacks |= need_preemption_timer;
    if (!r.save_preemption_timer) lacks |= need_save_preemption_timer;
    if (!(r.ept && r.ept_walk4 && r.ept_write_back)) lacks |= need_ept;
    if (!r.hlt_exiting) lacks |= need_hlt_exiting;
    if (!r.hlt_activity) lacks |= need_hlt_activity;
    if (!r.unrestricted_guest) lacks |= need_unrestricted_guest;
    if (!r.vpid) lacks |= need_vpid;
    r.lacks = lacks;
    return r;
}

void write_capability_report(const CpuFacts& f, Text& out) {
    const Capabilities r = assess_capabilities(f);
    out.str("CPU: ").str(f.vendor);
    if (f.brand[0] != '\0') out.str(", ").str(trimmed(f.brand));
    out.chr('\n');
    out.str("Running under a hypervisor: ").str(yes_no(f.hypervisor)).str(" (CPUID.1:ECX[31])\n");
    out.str("CPUID.15H: ");
    if (f.has_leaf_15h) {
        out.str("TSC/crystal ratio ").dec(f.leaf_15h_ebx).chr('/').dec(f.leaf_15h_eax);
        out.str(", crystal ").dec(f.leaf_15h_ecx).str(" Hz");
        if (f.leaf_15h_ecx == 0) out.str(" (not enumerated: calibrate the TSC)");
        out.chr('\n');
    } else {
        out.str("not available (max basic leaf ").hex(f.max_basic_leaf).str(")\n");
    }
    out.str("VMX: ").str(f.vmx ? "present" : "absent").str(" (CPUID.1:ECX[5])\n");
    if (f.vmx) {
        const VmxCaps& c = f.caps;
        out.str("IA32_FEATURE_CONTROL: ").hex(f.feature_control).str(": ");
        out.str(feature_control_words(r.feature_control)).chr('\n');
        out.str("VMCS: revision ").hex(c.vmcs_revision()).str(", region ");
        out.dec(c.vmcs_region_size()).str(" bytes\n");
        out.str("TRUE control MSRs: ").str(yes_no(r.true_controls)).str(" (IA32_VMX_BASIC[55])\n");
        out.str("Secondary controls: ").str(yes_no(r.secondary_controls)).chr('\n');
        out.str("Preemption timer: ").str(yes_no(r.preemption_timer));
        if (r.preemption_timer) {
            out.str(", counts every 2^").dec(r.preemption_timer_rate).str(" TSC ticks");
            out.str(" (IA32_VMX_MISC[4:0] = ").dec(r.preemption_timer_rate).chr(')');
        }
        out.chr('\n');
        out.str("Save preemption timer value: ").str(yes_no(r.save_preemption_timer)).chr('\n');
        out.str("EPT: ").str(yes_no(r.ept));
        if (r.ept) {
            out.str(" (4-level walk: ").str(yes_no(r.ept_walk4));
            out.str(", write-back: ").str(yes_no(r.ept_write_back));
            out.str(", 2 MiB pages: ").str(yes_no(r.ept_2mib_pages)).chr(')');
        }
        out.chr('\n');
        out.str("VPID: ").str(yes_no(r.vpid)).chr('\n');
        out.str("Unrestricted guest: ").str(yes_no(r.unrestricted_guest)).chr('\n');
        out.str("HLT exiting (on and off): ").str(yes_no(r.hlt_exiting)).chr('\n');
        out.str("HLT activity state: ").str(yes_no(r.hlt_activity)).str(" (IA32_VMX_MISC[6])\n");
    }
    out.str("Metronome would lack: ");
    if (r.lacks == 0) {
        out.str("nothing: this CPU can run Metronome\n");
        return;
    }
    bool first = true;
    for (Need n : all_needs) {
        if ((r.lacks & n) == 0) continue;
        if (!first) out.str(", ");
        out.str(need_words(n));
        first = false;
    }
    out.chr('\n');
    if (r.can_run()) {
        out.str("Verdict: this CPU can run Metronome, with fallbacks: ");
        describe_cpu_fallbacks(r, out);
        out.chr('\n');
    } else {
        out.str("Verdict: ");
        describe_cpu_refusal(r, out);
        out.chr('\n');
    }
}

void write_capability_json(const CpuFacts& f, Text& out) {
    const Capabilities r = assess_capabilities(f);
    out.str("METRONOME-CAPS {");
    out.json_string("vendor").chr(':').json_string(f.vendor);
    out.chr(',').json_string("brand").chr(':').json_string(trimmed(f.brand));
    json_bool(out, "hypervisor", f.hypervisor);
    out.chr(',').json_string("max_basic_leaf").chr(':').dec(f.max_basic_leaf);
    out.chr(',').json_string("cpuid_15h").chr(':');
    if (f.has_leaf_15h) {
        out.chr('{');
        json_hex(out, "eax", f.leaf_15h_eax, 0);
        out.chr(',');
        json_hex(out, "ebx", f.leaf_15h_ebx, 0);
        out.chr(',');
        json_hex(out, "ecx", f.leaf_15h_ecx, 0);
        out.chr('}');
    } else {
        out.str("null");
    }
    json_bool(out, "vmx", f.vmx);
    out.chr(',').json_string("feature_control").chr(':');
    if (f.vmx) {
        FixedText<24> hex;
        hex.hex(f.feature_control, 16);
        out.json_string(hex.c_str());
    } else {
        out.str("null");
    }
    out.chr(',').json_string("feature_control_state").chr(':');
    out.json_string(feature_control_key(r.feature_control));
    out.chr(',').json_string("msrs").str(":{");
    if (f.vmx) {
        bool first = true;
        for (std::uint32_t i = 0; i < caps_msr_count; ++i) {
            const std::uint32_t index = msr::ia32_vmx_basic + i;
            if (!was_read(f.caps, index)) continue;
            if (!first) out.chr(',');
            json_hex(out, caps_msr_name(index), f.caps.*msr_fields[i], 16);
            first = false;
        }
    }
    out.chr('}');
    if (f.vmx) {
        out.chr(',').json_string("vmcs_revision").chr(':').dec(f.caps.vmcs_revision());
        out.chr(',').json_string("vmcs_region_size").chr(':').dec(f.caps.vmcs_region_size());
        out.chr(',').json_string("preemption_timer_rate").chr(':').dec(r.preemption_timer_rate);
    } else {
        out.chr(',').json_string("vmcs_revision").str(":null");
        out.chr(',').json_string("vmcs_region_size").str(":null");
        out.chr(',').json_string("preemption_timer_rate").str(":null");
    }
    json_bool(out, "true_controls", r.true_controls);
    json_bool(out, "secondary_controls", r.secondary_controls);
    json_bool(out, "preemption_timer", r.preemption_timer);
    json_bool(out, "save_preemption_timer", r.save_preemption_timer);
    json_bool(out, "ept", r.ept);
    json_bool(out, "ept_4level", r.ept_walk4);
    json_bool(out, "ept_wb", r.ept_write_back);
    json_bool(out, "ept_2mb", r.ept_2mib_pages);
    json_bool(out, "vpid", r.vpid);
    json_bool(out, "unrestricted_guest", r.unrestricted_guest);
    json_bool(out, "hlt_exiting", r.hlt_exiting);
    json_bool(out, "hlt_activity", r.hlt_activity);
    json_needs(out, "lacks", static_cast<std::uint16_t>(r.lacks & ~optional_needs));
    json_needs(out, "lacks_optional", static_cast<std::uint16_t>(r.lacks & optional_needs));
    json_bool(out, "can_run", r.can_run());
    out.chr('}');
}

} // namespace vmx
