// Control bits, their names, and resolution of requested controls against capability MSRs.
#include "testdata.hpp"
#include "vmx/caps/caps_text.hpp"
#include "vmx/caps/controls.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

using vmx::ControlSet;

namespace {

constexpr ControlSet kAllSets[] = {ControlSet::pin_based, ControlSet::primary_processor_based,
                                   ControlSet::secondary_processor_based, ControlSet::exit,
                                   ControlSet::entry};

std::uint64_t ctl(std::uint32_t must_be_1, std::uint32_t allowed_1) {
    return (std::uint64_t{allowed_1} << 32) | must_be_1;
}

// A CPU like the early VMX ones: every default1 bit reported as must-be-1 in the plain MSRs.
// With `with_true`, BASIC[55] is set and the TRUE MSRs let the default1 bits that have a meaning
// (CR3-load/-store exiting, save/load debug controls) be 0.
vmx::VmxCaps synthetic(bool with_true, bool with_secondary = true) {
    using vmx::default1_controls;
    vmx::VmxCaps c;
    c.basic = 0x0000100000000001ull | (with_true ? 1ull << 55 : 0);
    const std::uint32_t pin1 = default1_controls(ControlSet::pin_based);
    const std::uint32_t proc1 = default1_controls(ControlSet::primary_processor_based);
    const std::uint32_t exit1 = default1_controls(ControlSet::exit);
    const std::uint32_t entry1 = default1_controls(ControlSet::entry);
    c.pinbased_ctls = ctl(pin1, 0x7f);
    c.procbased_ctls = ctl(proc1, with_secondary ? 0xfff9fffeu : 0x7ff9fffeu);
    c.exit_ctls = ctl(exit1, 0x7fffff);
    c.entry_ctls = ctl(entry1, 0xffff);
    c.procbased_ctls2 = with_secondary ? ctl(0, 0xff) : 0; // through "unrestricted guest"
    if (with_true) {
        c.true_pinbased_ctls = c.pinbased_ctls;
        c.true_procbased_ctls =
            ctl(proc1 & ~(vmx::proc::cr3_load_exiting | vmx::proc::cr3_store_exiting),
                static_cast<std::uint32_t>(c.procbased_ctls >> 32));
        c.true_exit_ctls = ctl(exit1 & ~vmx::exit_ctl::save_debug_controls, 0x7fffff);
        c.true_entry_ctls = ctl(entry1 & ~vmx::entry_ctl::load_debug_controls, 0xffff);
    }
    return c;
}

// The capability MSR value for a control word, chosen here independently of vmx/controls.
std::uint64_t consulted(ControlSet set, const vmx::VmxCaps& c) {
    const bool t = (c.basic >> 55) & 1;
    switch (set) {
    case ControlSet::pin_based:
        return t ? c.true_pinbased_ctls : c.pinbased_ctls;
    case ControlSet::primary_processor_based:
        return t ? c.true_procbased_ctls : c.procbased_ctls;
    case ControlSet::secondary_processor_based:
        return (c.procbased_ctls >> 63) ? c.procbased_ctls2 : 0;
    case ControlSet::exit:
        return t ? c.true_exit_ctls : c.exit_ctls;
    case ControlSet::entry:
        return t ? c.true_entry_ctls : c.entry_ctls;
    }
    return 0;
}

std::uint32_t must1(std::uint64_t v) {
    return static_cast<std::uint32_t>(v);
}
std::uint32_t allowed1(std::uint64_t v) {
    return static_cast<std::uint32_t>(v >> 32);
}

bool contains(const char* haystack, const char* needle) {
    return std::strstr(haystack, needle) != nullptr;
}

unsigned bit_of(std::uint32_t mask) {
    unsigned b = 0;
    while (((mask >> b) & 1u) == 0)
        ++b;
    return b;
}

} // namespace

TEST_CASE("controls: each named constant is the SDM bit and carries the SDM name") {
    struct Row {
        ControlSet set;
        std::uint32_t mask;
        unsigned bit;
        const char* name;
    };
    using namespace vmx;
    const Row rows[] = {
        {ControlSet::pin_based, pin::external_interrupt_exiting, 0, "external-interrupt exiting"},
        {ControlSet::pin_based, pin::nmi_exiting, 3, "NMI exiting"},
        {ControlSet::pin_based, pin::virtual_nmis, 5, "virtual NMIs"},
        {ControlSet::pin_based, pin::activate_preemption_timer, 6, "activate VMX-preemption timer"},
        {ControlSet::pin_based, pin::process_posted_interrupts, 7, "process posted interrupts"},
        {ControlSet::primary_processor_based, proc::interrupt_window_exiting, 2,
         "interrupt-window exiting"},
        {ControlSet::primary_processor_based, proc::use_tsc_offsetting, 3, "use TSC offsetting"},
        {ControlSet::primary_processor_based, proc::hlt_exiting, 7, "HLT exiting"},
        {ControlSet::primary_processor_based, proc::invlpg_exiting, 9, "INVLPG exiting"},
        {ControlSet::primary_processor_based, proc::mwait_exiting, 10, "MWAIT exiting"},
        {ControlSet::primary_processor_based, proc::rdpmc_exiting, 11, "RDPMC exiting"},
        {ControlSet::primary_processor_based, proc::rdtsc_exiting, 12, "RDTSC exiting"},
        {ControlSet::primary_processor_based, proc::cr3_load_exiting, 15, "CR3-load exiting"},
        {ControlSet::primary_processor_based, proc::cr3_store_exiting, 16, "CR3-store exiting"},
        {ControlSet::primary_processor_based, proc::cr8_load_exiting, 19, "CR8-load exiting"},
        {ControlSet::primary_processor_based, proc::cr8_store_exiting, 20, "CR8-store exiting"},
        {ControlSet::primary_processor_based, proc::use_tpr_shadow, 21, "use TPR shadow"},
        {ControlSet::primary_processor_based, proc::nmi_window_exiting, 22, "NMI-window exiting"},
        {ControlSet::primary_processor_based, proc::mov_dr_exiting, 23, "MOV-DR exiting"},
        {ControlSet::primary_processor_based, proc::unconditional_io_exiting, 24,
         "unconditional I/O exiting"},
        {ControlSet::primary_processor_based, proc::use_io_bitmaps, 25, "use I/O bitmaps"},
        {ControlSet::primary_processor_based, proc::monitor_trap_flag, 27, "monitor trap flag"},
        {ControlSet::primary_processor_based, proc::use_msr_bitmaps, 28, "use MSR bitmaps"},
        {ControlSet::primary_processor_based, proc::monitor_exiting, 29, "MONITOR exiting"},
        {ControlSet::primary_processor_based, proc::pause_exiting, 30, "PAUSE exiting"},
        {ControlSet::primary_processor_based, proc::activate_secondary_controls, 31,
         "activate secondary controls"},
        {ControlSet::secondary_processor_based, proc2::virtualize_apic_accesses, 0,
         "virtualize APIC accesses"},
        {ControlSet::secondary_processor_based, proc2::enable_ept, 1, "enable EPT"},
        {ControlSet::secondary_processor_based, proc2::descriptor_table_exiting, 2,
         "descriptor-table exiting"},
        {ControlSet::secondary_processor_based, proc2::enable_rdtscp, 3, "enable RDTSCP"},
        {ControlSet::secondary_processor_based, proc2::virtualize_x2apic_mode, 4,
         "virtualize x2APIC mode"},
        {ControlSet::secondary_processor_based, proc2::enable_vpid, 5, "enable VPID"},
        {ControlSet::secondary_processor_based, proc2::wbinvd_exiting, 6, "WBINVD exiting"},
        {ControlSet::secondary_processor_based, proc2::unrestricted_guest, 7, "unrestricted guest"},
        {ControlSet::secondary_processor_based, proc2::apic_register_virtualization, 8,
         "APIC-register virtualization"},
        {ControlSet::secondary_processor_based, proc2::virtual_interrupt_delivery, 9,
         "virtual-interrupt delivery"},
        {ControlSet::secondary_processor_based, proc2::pause_loop_exiting, 10,
         "PAUSE-loop exiting"},
        {ControlSet::secondary_processor_based, proc2::rdrand_exiting, 11, "RDRAND exiting"},
        {ControlSet::secondary_processor_based, proc2::enable_invpcid, 12, "enable INVPCID"},
        {ControlSet::secondary_processor_based, proc2::enable_vm_functions, 13,
         "enable VM functions"},
        {ControlSet::secondary_processor_based, proc2::vmcs_shadowing, 14, "VMCS shadowing"},
        {ControlSet::secondary_processor_based, proc2::encls_exiting, 15, "enable ENCLS exiting"},
        {ControlSet::secondary_processor_based, proc2::rdseed_exiting, 16, "RDSEED exiting"},
        {ControlSet::secondary_processor_based, proc2::enable_pml, 17, "enable PML"},
        {ControlSet::secondary_processor_based, proc2::ept_violation_ve, 18, "EPT-violation #VE"},
        {ControlSet::secondary_processor_based, proc2::conceal_vmx_from_pt, 19,
         "conceal VMX from PT"},
        {ControlSet::secondary_processor_based, proc2::enable_xsaves_xrstors, 20,
         "enable XSAVES/XRSTORS"},
        {ControlSet::secondary_processor_based, proc2::mode_based_ept_execute, 22,
         "mode-based execute control for EPT"},
        {ControlSet::secondary_processor_based, proc2::tsc_scaling, 25, "use TSC scaling"},
        {ControlSet::secondary_processor_based, proc2::enable_user_wait_pause, 26,
         "enable user wait and pause"},
        {ControlSet::exit, exit_ctl::save_debug_controls, 2, "save debug controls"},
        {ControlSet::exit, exit_ctl::host_address_space_size, 9, "host address-space size"},
        {ControlSet::exit, exit_ctl::load_perf_global_ctrl, 12, "load IA32_PERF_GLOBAL_CTRL"},
        {ControlSet::exit, exit_ctl::acknowledge_interrupt_on_exit, 15,
         "acknowledge interrupt on exit"},
        {ControlSet::exit, exit_ctl::save_pat, 18, "save IA32_PAT"},
        {ControlSet::exit, exit_ctl::load_pat, 19, "load IA32_PAT"},
        {ControlSet::exit, exit_ctl::save_efer, 20, "save IA32_EFER"},
        {ControlSet::exit, exit_ctl::load_efer, 21, "load IA32_EFER"},
        {ControlSet::exit, exit_ctl::save_preemption_timer, 22, "save VMX-preemption timer value"},
        {ControlSet::exit, exit_ctl::clear_bndcfgs, 23, "clear IA32_BNDCFGS"},
        {ControlSet::exit, exit_ctl::conceal_vmx_from_pt, 24, "conceal VMX from PT"},
        {ControlSet::entry, entry_ctl::load_debug_controls, 2, "load debug controls"},
        {ControlSet::entry, entry_ctl::ia32e_mode_guest, 9, "IA-32e mode guest"},
        {ControlSet::entry, entry_ctl::entry_to_smm, 10, "entry to SMM"},
        {ControlSet::entry, entry_ctl::deactivate_dual_monitor, 11,
         "deactivate dual-monitor treatment"},
        {ControlSet::entry, entry_ctl::load_perf_global_ctrl, 13, "load IA32_PERF_GLOBAL_CTRL"},
        {ControlSet::entry, entry_ctl::load_pat, 14, "load IA32_PAT"},
        {ControlSet::entry, entry_ctl::load_efer, 15, "load IA32_EFER"},
        {ControlSet::entry, entry_ctl::load_bndcfgs, 16, "load IA32_BNDCFGS"},
        {ControlSet::entry, entry_ctl::conceal_vmx_from_pt, 17, "conceal VMX from PT"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.name);
        CHECK(r.mask == 1u << r.bit);
        const char* name = vmx::control_bit_name(r.set, r.bit);
        REQUIRE(name != nullptr);
        CHECK(std::string(name) == r.name);
    }
}

TEST_CASE("controls: reserved and out-of-range bits have no name; control words do") {
    CHECK(vmx::control_bit_name(ControlSet::pin_based, 1) == nullptr); // default1
    CHECK(vmx::control_bit_name(ControlSet::pin_based, 31) == nullptr);
    CHECK(vmx::control_bit_name(ControlSet::primary_processor_based, 26) == nullptr); // default1
    CHECK(vmx::control_bit_name(ControlSet::exit, 0) == nullptr);
    CHECK(vmx::control_bit_name(ControlSet::entry, 12) == nullptr);
    CHECK(vmx::control_bit_name(ControlSet::secondary_processor_based, 32) == nullptr);
    CHECK(vmx::control_bit_name(ControlSet::entry, 1000) == nullptr);
    CHECK(std::string(vmx::control_set_name(ControlSet::pin_based)) ==
          "pin-based VM-execution controls");
    CHECK(std::string(vmx::control_set_name(ControlSet::primary_processor_based)) ==
          "primary processor-based VM-execution controls");
    CHECK(std::string(vmx::control_set_name(ControlSet::secondary_processor_based)) ==
          "secondary processor-based VM-execution controls");
    CHECK(std::string(vmx::control_set_name(ControlSet::exit)) == "VM-exit controls");
    CHECK(std::string(vmx::control_set_name(ControlSet::entry)) == "VM-entry controls");
    // The default1 bits are reserved except the four that TRUE MSRs let software clear.
    const std::uint32_t named_default1[] = {
        0, vmx::proc::cr3_load_exiting | vmx::proc::cr3_store_exiting, 0,
        vmx::exit_ctl::save_debug_controls, vmx::entry_ctl::load_debug_controls};
    for (unsigned i = 0; i < 5; ++i) {
        const ControlSet set = kAllSets[i];
        for (unsigned bit = 0; bit < 32; ++bit) {
            if (((vmx::default1_controls(set) >> bit) & 1u) == 0) continue;
            CAPTURE(bit);
            CHECK((vmx::control_bit_name(set, bit) != nullptr) ==
                  (((named_default1[i] >> bit) & 1u) != 0));
        }
    }
}

TEST_CASE("controls: the TRUE MSR is named exactly when IA32_VMX_BASIC[55] is set") {
    const vmx::VmxCaps plain = synthetic(false);
    const vmx::VmxCaps with_true = synthetic(true);
    const std::pair<ControlSet, const char*> names[] = {
        {ControlSet::pin_based, "PINBASED_CTLS"},
        {ControlSet::primary_processor_based, "PROCBASED_CTLS"},
        {ControlSet::exit, "EXIT_CTLS"},
        {ControlSet::entry, "ENTRY_CTLS"},
    };
    for (const auto& [set, suffix] : names) {
        CHECK(std::string(vmx::capability_msr_name(set, plain)) ==
              std::string("IA32_VMX_") + suffix);
        CHECK(std::string(vmx::capability_msr_name(set, with_true)) ==
              std::string("IA32_VMX_TRUE_") + suffix);
        CHECK(std::string(vmx::resolve_control(set, 0, with_true).msr_name) ==
              std::string("IA32_VMX_TRUE_") + suffix);
    }
    for (const auto* c : {&plain, &with_true}) {
        CHECK(std::string(vmx::capability_msr_name(ControlSet::secondary_processor_based, *c)) ==
              "IA32_VMX_PROCBASED_CTLS2");
    }
}

TEST_CASE("resolve_control: must-be-1 bits are forced, refused bits are reported and left out") {
    vmx::VmxCaps c = synthetic(false);
    c.pinbased_ctls = ctl(0x16, 0x3f); // no "activate VMX-preemption timer"
    const std::uint32_t want = vmx::pin::nmi_exiting | vmx::pin::activate_preemption_timer |
                               vmx::pin::process_posted_interrupts | 0x2;
    const auto r = vmx::resolve_control(ControlSet::pin_based, want, c);
    CHECK_FALSE(r.ok());
    CHECK(r.refused == (vmx::pin::activate_preemption_timer | vmx::pin::process_posted_interrupts));
    CHECK(r.forced == 0x14u); // bit 1 was asked for
    CHECK(r.value == (vmx::pin::nmi_exiting | 0x16u));
    CHECK(r.set == ControlSet::pin_based);
    CHECK(std::string(r.msr_name) == "IA32_VMX_PINBASED_CTLS");

    const auto fine = vmx::resolve_control(ControlSet::pin_based, vmx::pin::nmi_exiting, c);
    CHECK(fine.ok());
    CHECK(fine.value == (vmx::pin::nmi_exiting | 0x16u));
}

TEST_CASE("resolve_control: without TRUE MSRs CR3-load exiting is forced, with them it is not") {
    const std::uint32_t want = vmx::proc::hlt_exiting | vmx::proc::use_msr_bitmaps;
    const auto plain =
        vmx::resolve_control(ControlSet::primary_processor_based, want, synthetic(false));
    const auto with_true =
        vmx::resolve_control(ControlSet::primary_processor_based, want, synthetic(true));
    CHECK(plain.ok());
    CHECK(with_true.ok());
    CHECK((plain.value & vmx::proc::cr3_load_exiting) != 0);
    CHECK((plain.forced & vmx::proc::cr3_store_exiting) != 0);
    CHECK((with_true.value & (vmx::proc::cr3_load_exiting | vmx::proc::cr3_store_exiting)) == 0);
    CHECK((plain.value & ~with_true.value) ==
          (vmx::proc::cr3_load_exiting | vmx::proc::cr3_store_exiting));

    const auto exit_plain = vmx::resolve_control(ControlSet::exit, 0, synthetic(false));
    const auto exit_true = vmx::resolve_control(ControlSet::exit, 0, synthetic(true));
    CHECK((exit_plain.value & vmx::exit_ctl::save_debug_controls) != 0);
    CHECK((exit_true.value & vmx::exit_ctl::save_debug_controls) == 0);
    CHECK(std::string(exit_true.msr_name) == "IA32_VMX_TRUE_EXIT_CTLS");
}

TEST_CASE("resolve_control: secondary controls are refused when the primary cannot activate them") {
    const vmx::VmxCaps c = synthetic(true, /*with_secondary=*/false);
    const std::uint32_t want = vmx::proc2::enable_ept | vmx::proc2::unrestricted_guest;
    const auto r = vmx::resolve_control(ControlSet::secondary_processor_based, want, c);
    CHECK(r.refused == want);
    CHECK(r.value == 0);
    CHECK(std::string(r.msr_name) == "IA32_VMX_PROCBASED_CTLS");
    vmx::FixedText<512> t;
    vmx::describe_refusal(r, t);
    CHECK(contains(t.c_str(), "\"enable EPT\""));
    CHECK(contains(t.c_str(), "\"unrestricted guest\""));
    CHECK(contains(t.c_str(), "IA32_VMX_PROCBASED_CTLS bit 63"));
    CHECK(contains(t.c_str(), "\"activate secondary controls\" is not allowed"));
    CHECK_FALSE(contains(t.c_str(), "CTLS2"));

    // Even a PROCBASED_CTLS2 value left in the struct is ignored: that MSR does not exist.
    vmx::VmxCaps stale = c;
    stale.procbased_ctls2 = ctl(0, 0xff);
    CHECK(vmx::resolve_control(ControlSet::secondary_processor_based, want, stale).refused == want);
    CHECK(vmx::resolve_control(ControlSet::secondary_processor_based, 0, stale).ok());
}

TEST_CASE("describe_refusal: one sentence per refused bit with bit name, control word and MSR") {
    vmx::VmxCaps c = synthetic(true);
    c.procbased_ctls2 = ctl(0, 0x7f); // no "unrestricted guest"
    const auto r = vmx::resolve_control(
        ControlSet::secondary_processor_based,
        vmx::proc2::enable_ept | vmx::proc2::unrestricted_guest | (1u << 21), c);
    REQUIRE(r.refused == (vmx::proc2::unrestricted_guest | (1u << 21)));
    vmx::FixedText<512> t;
    vmx::describe_refusal(r, t);
    const std::string s = t.c_str();
    CHECK(
        s.find("CPU does not allow \"unrestricted guest\" (bit 7 of the secondary processor-based "
               "VM-execution controls, IA32_VMX_PROCBASED_CTLS2 allowed-1 = 0).") !=
        std::string::npos);
    CHECK(s.find("CPU does not allow bit 21 (bit 21 of the secondary") != std::string::npos);
    CHECK(std::count(s.begin(), s.end(), '\n') == 1);
    CHECK(s.find("enable EPT") == std::string::npos);
    CHECK_FALSE(t.truncated());

    vmx::FixedText<64> empty;
    vmx::describe_refusal(
        vmx::resolve_control(ControlSet::secondary_processor_based, vmx::proc2::enable_ept, c),
        empty);
    CHECK(empty.size() == 0);

    vmx::FixedText<24> tiny; // a short buffer cuts the text, never overruns
    vmx::describe_refusal(r, tiny);
    CHECK(tiny.truncated());
    CHECK(tiny.size() == 23);
}

TEST_CASE("resolve_control: a required-clear bit that the CPU forces on is refused and stays on") {
    vmx::VmxCaps c = synthetic(false);
    c.procbased_ctls =
        ctl(vmx::default1_controls(ControlSet::primary_processor_based) | vmx::proc::hlt_exiting,
            0xfff9fffeu);
    const auto r =
        vmx::resolve_control(ControlSet::primary_processor_based, vmx::proc::use_msr_bitmaps,
                             vmx::proc::hlt_exiting | vmx::proc::use_io_bitmaps, c);
    CHECK(r.refused == vmx::proc::hlt_exiting);
    CHECK((r.value & vmx::proc::hlt_exiting) != 0);
    CHECK((r.forced & vmx::proc::hlt_exiting) != 0);
    CHECK((r.value & vmx::proc::use_io_bitmaps) == 0);
    vmx::FixedText<256> t;
    vmx::describe_refusal(r, t);
    CHECK(contains(t.c_str(), "CPU forces \"HLT exiting\" on"));
    CHECK(contains(t.c_str(), "IA32_VMX_PROCBASED_CTLS allowed-0 = 1"));

    // Requested wins over required-clear.
    CHECK(vmx::resolve_control(ControlSet::primary_processor_based, vmx::proc::hlt_exiting,
                               vmx::proc::hlt_exiting, c)
              .ok());
}

TEST_CASE("resolve_control on every real CPU: nothing asked gives must-be-1, everything gives "
          "allowed-1") {
    const auto files = testdata::vmx_caps_files();
    REQUIRE(files.size() >= 8);
    for (const auto& path : files) {
        CAPTURE(path.filename().string());
        const std::string text = testdata::load(path);
        const auto p = vmx::parse_caps_text(text.data(), text.size());
        REQUIRE(p.ok);
        for (const ControlSet set : kAllSets) {
            CAPTURE(vmx::control_set_name(set));
            const std::uint64_t msr = consulted(set, p.caps);
            const auto none = vmx::resolve_control(set, 0, p.caps);
            CHECK(none.ok());
            CHECK(none.value == must1(msr));
            CHECK(none.forced == must1(msr));
            const auto all = vmx::resolve_control(set, 0xffffffffu, p.caps);
            CHECK(all.value == allowed1(msr));
            CHECK(all.refused == ~allowed1(msr));
            CHECK(all.forced == 0);
            const bool uses_true = std::string(all.msr_name).find("_TRUE_") != std::string::npos;
            CHECK(uses_true ==
                  (set != ControlSet::secondary_processor_based && p.caps.has_true_controls()));
        }
    }
}

TEST_CASE("real CPUs: TRUE MSRs differ from the plain ones only in default1 must-be-1 bits") {
    for (const auto& path : testdata::vmx_caps_files()) {
        CAPTURE(path.filename().string());
        const std::string text = testdata::load(path);
        const auto p = vmx::parse_caps_text(text.data(), text.size());
        REQUIRE(p.ok);
        if (!p.caps.has_true_controls()) continue;
        const std::pair<std::uint64_t, std::uint64_t> pairs[] = {
            {p.caps.pinbased_ctls, p.caps.true_pinbased_ctls},
            {p.caps.procbased_ctls, p.caps.true_procbased_ctls},
            {p.caps.exit_ctls, p.caps.true_exit_ctls},
            {p.caps.entry_ctls, p.caps.true_entry_ctls},
        };
        const ControlSet sets[] = {ControlSet::pin_based, ControlSet::primary_processor_based,
                                   ControlSet::exit, ControlSet::entry};
        for (unsigned i = 0; i < 4; ++i) {
            const auto [plain, tru] = pairs[i];
            CHECK(allowed1(plain) == allowed1(tru));
            CHECK((must1(tru) & ~must1(plain)) == 0);
            CHECK(((must1(plain) ^ must1(tru)) & ~vmx::default1_controls(sets[i])) == 0);
            // Every default1 bit is reported as must-be-1 by the plain MSR.
            CHECK((vmx::default1_controls(sets[i]) & ~must1(plain)) == 0);
        }
    }
}

TEST_CASE("describe_refusal names the lowest and highest bits correctly") {
    vmx::VmxCaps c = synthetic(false);
    c.entry_ctls = ctl(0x11ff, 0x7fffffffu);
    const auto r = vmx::resolve_control(ControlSet::entry, 1u << 31, c);
    vmx::FixedText<256> t;
    vmx::describe_refusal(r, t);
    CHECK(std::string(t.c_str()) == "CPU does not allow bit 31 (bit 31 of the VM-entry controls, "
                                    "IA32_VMX_ENTRY_CTLS allowed-1 = 0).");
    c.pinbased_ctls = ctl(0x16, 0x1e);
    t.clear();
    vmx::describe_refusal(vmx::resolve_control(ControlSet::pin_based, 1u, c), t);
    CHECK(std::string(t.c_str()) ==
          "CPU does not allow \"external-interrupt exiting\" (bit 0 of the pin-based "
          "VM-execution controls, IA32_VMX_PINBASED_CTLS allowed-1 = 0).");
    CHECK(bit_of(vmx::proc::activate_secondary_controls) == 31);
}
