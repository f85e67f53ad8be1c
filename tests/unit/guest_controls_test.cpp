// The controls of one Metronome guest, resolved against every capability dump in testdata and
// against hand-made variations of them.
#include "testdata.hpp"
#include "vmx/caps/caps_text.hpp"
#include "vmx/caps/controls.hpp"
#include "vmx/caps/guest_controls.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

using vmx::ControlSet;

namespace {

struct Cpu {
    std::string name;
    vmx::VmxCaps caps;
};

// Every CPU in testdata that Metronome runs on (testdata::refused_cpu lists the others), or
// the refused ones.
std::vector<Cpu> all_cpus(bool refused = false) {
    std::vector<Cpu> cpus;
    for (const auto& path : testdata::vmx_caps_files()) {
        if (testdata::refused_cpu(path) != refused) continue;
        const std::string text = testdata::load(path);
        const auto r = vmx::parse_caps_text(text.data(), text.size());
        INFO(path.filename().string(), ": ", r.error);
        REQUIRE(r.ok);
        cpus.push_back({path.filename().string(), r.caps});
    }
    return cpus;
}

vmx::VmxCaps cpu(const std::string& file) {
    const std::string text = testdata::load(testdata::vmx_caps_dir() / file);
    REQUIRE_MESSAGE(!text.empty(), file);
    const auto r = vmx::parse_caps_text(text.data(), text.size());
    REQUIRE_MESSAGE(r.ok, r.error);
    return r.caps;
}

std::uint32_t must1(std::uint64_t v) {
    return static_cast<std::uint32_t>(v);
}
std::uint32_t allowed1(std::uint64_t v) {
    return static_cast<std::uint32_t>(v >> 32);
}

// The MSR that governs each control word, picked here from the SDM rules rather than through
// vmx::control_capability, so that a mistake there cannot hide itself.
struct Governing {
    std::uint64_t pin, primary, secondary, exit, entry;
};
Governing governing(const vmx::VmxCaps& c) {
    const bool t = (c.basic >> 55) & 1;
    return Governing{
        t ? c.true_pinbased_ctls : c.pinbased_ctls,
        t ? c.true_procbased_ctls : c.procbased_ctls,
        (c.procbased_ctls >> 63) ? c.procbased_ctls2 : 0,
        t ? c.true_exit_ctls : c.exit_ctls,
        t ? c.true_entry_ctls : c.entry_ctls,
    };
}

std::string describe(const vmx::GuestControls& g) {
    vmx::FixedText<2048> t;
    vmx::describe_guest_control_failures(g, t);
    return t.c_str();
}

void set_allowed1(std::uint64_t& msr, std::uint32_t bits, bool allowed) {
    const std::uint64_t mask = std::uint64_t{bits} << 32;
    msr = allowed ? (msr | mask) : (msr & ~mask);
}

} // namespace

TEST_CASE("guest controls on every real CPU, with and without yield_on_hlt") {
    const auto cpus = all_cpus();
    REQUIRE(cpus.size() >= 8);
    for (const Cpu& c : cpus) {
        for (const bool yield : {false, true}) {
            CAPTURE(c.name);
            CAPTURE(yield);
            vmx::GuestControlRequest req;
            req.yield_on_hlt = yield;
            const vmx::GuestControls g = vmx::resolve_guest_controls(req, c.caps);
            CHECK_MESSAGE(g.ok, describe(g));
            CHECK(g.failure_count == 0);
            CHECK(g.ept_ok);

            CHECK(((g.primary & vmx::proc::hlt_exiting) != 0) == yield);
            CHECK((g.pin & vmx::pin::activate_preemption_timer) != 0);
            // Every CPU in the testdata can save the timer's value, so it is taken.
            CHECK((g.exit & vmx::exit_ctl::save_preemption_timer) != 0);
            CHECK(g.saves_preemption_timer);

            const Governing m = governing(c.caps);
            const std::pair<std::uint32_t, std::uint64_t> words[] = {{g.pin, m.pin},
                                                                     {g.primary, m.primary},
                                                                     {g.secondary, m.secondary},
                                                                     {g.exit, m.exit},
                                                                     {g.entry, m.entry}};
            for (const auto& [value, msr] : words) {
                CHECK((must1(msr) & ~value) == 0);    // every must-be-1 bit set
                CHECK((value & ~allowed1(msr)) == 0); // nothing the CPU does not allow
            }
            // TRUE MSRs exactly when BASIC[55]: with them, the default1 bits that only the
            // plain MSR forces (CR3-load/-store exiting) stay 0; save/load debug controls are
            // requested on purpose (DR7 and DEBUGCTL are per guest).
            const std::uint32_t plain_only_primary =
                must1(c.caps.procbased_ctls) & ~must1(m.primary);
            const std::uint32_t plain_only_exit =
                must1(c.caps.exit_ctls) & ~must1(m.exit) & ~vmx::exit_ctl::save_debug_controls;
            if (c.caps.has_true_controls()) {
                CHECK(m.primary == c.caps.true_procbased_ctls);
                CHECK((g.primary & plain_only_primary) == 0);
                CHECK((g.exit & plain_only_exit) == 0);
                CHECK((g.primary & vmx::proc::cr3_load_exiting) ==
                      (must1(c.caps.true_procbased_ctls) & vmx::proc::cr3_load_exiting));
            } else {
                CHECK((must1(c.caps.procbased_ctls) & ~g.primary) == 0);
            }

            CHECK((g.pin & vmx::pin::external_interrupt_exiting) != 0);
            CHECK((g.pin & vmx::pin::nmi_exiting) != 0);
            CHECK((g.primary & vmx::proc::unconditional_io_exiting) != 0);
            CHECK((g.primary & vmx::proc::use_io_bitmaps) == 0);
            CHECK((g.primary & vmx::proc::use_msr_bitmaps) != 0);
            CHECK((g.primary & vmx::proc::mov_dr_exiting) == 0);
            CHECK((g.primary & vmx::proc::activate_secondary_controls) != 0);
            CHECK((g.secondary & vmx::proc2::enable_ept) != 0);
            CHECK((g.secondary & vmx::proc2::unrestricted_guest) == 0);
            CHECK((g.exit & vmx::exit_ctl::host_address_space_size) != 0);
            CHECK((g.exit & vmx::exit_ctl::acknowledge_interrupt_on_exit) != 0);
            CHECK((g.exit & (vmx::exit_ctl::save_efer | vmx::exit_ctl::load_efer)) ==
                  (vmx::exit_ctl::save_efer | vmx::exit_ctl::load_efer));
            CHECK((g.exit & (vmx::exit_ctl::save_pat | vmx::exit_ctl::load_pat)) ==
                  (vmx::exit_ctl::save_pat | vmx::exit_ctl::load_pat));
            CHECK((g.entry & vmx::entry_ctl::ia32e_mode_guest) != 0);
            CHECK((g.entry & vmx::entry_ctl::load_efer) != 0);
            CHECK((g.entry & vmx::entry_ctl::load_pat) != 0);
            CHECK((g.entry &
                   (vmx::entry_ctl::entry_to_smm | vmx::entry_ctl::deactivate_dual_monitor)) == 0);
            CHECK(describe(g).empty());
        }
    }
}

TEST_CASE("paging_off_at_entry: Nehalem and Lynnfield lack unrestricted guest, the others have it") {
    const auto cpus = all_cpus();
    REQUIRE(cpus.size() >= 17);
    vmx::GuestControlRequest req;
    req.paging_off_at_entry = true;
    unsigned lacking = 0;
    for (const Cpu& c : cpus) {
        CAPTURE(c.name);
        const vmx::GuestControls g = vmx::resolve_guest_controls(req, c.caps);
        if (testdata::lacks_unrestricted_guest(c.name)) {
            ++lacking;
            CHECK_FALSE(g.ok);
            REQUIRE(g.failure_count == 1);
            CHECK(g.failures[0].set == ControlSet::secondary_processor_based);
            CHECK(g.failures[0].refused == vmx::proc2::unrestricted_guest);
            const std::string words = describe(g);
            CHECK(words.find("\"unrestricted guest\"") != std::string::npos);
            CHECK(words.find("IA32_VMX_PROCBASED_CTLS2 allowed-1 = 0") != std::string::npos);
        } else {
            CHECK_MESSAGE(g.ok, describe(g));
            CHECK((g.secondary & vmx::proc2::unrestricted_guest) != 0);
            CHECK((g.secondary & vmx::proc2::enable_ept) != 0);
        }
        // A guest that starts with CR0.PG = 0 cannot enter in IA-32e mode.
        CHECK((g.entry & vmx::entry_ctl::ia32e_mode_guest) == 0);
    }
    CHECK(lacking == 2);
}

TEST_CASE("a refused CPU in testdata fails every guest, naming the preemption timer and EPT") {
    const auto cpus = all_cpus(true);
    REQUIRE(cpus.size() == 1);
    for (const Cpu& c : cpus) {
        CAPTURE(c.name);
        for (const bool yield : {false, true}) {
            vmx::GuestControlRequest req;
            req.yield_on_hlt = yield;
            const vmx::GuestControls g = vmx::resolve_guest_controls(req, c.caps);
            CHECK_FALSE(g.ok);
            const std::string words = describe(g);
            CHECK(words.find("\"activate VMX-preemption timer\"") != std::string::npos);
            CHECK(words.find("\"enable EPT\"") != std::string::npos);
        }
    }
}

TEST_CASE("optional secondary controls are taken exactly where the CPU allows them") {
    for (const Cpu& c : all_cpus()) {
        CAPTURE(c.name);
        const vmx::GuestControls g = vmx::resolve_guest_controls({}, c.caps);
        const std::uint32_t allowed = allowed1(governing(c.caps).secondary);
        for (const std::uint32_t bit : {vmx::proc2::enable_vpid, vmx::proc2::enable_rdtscp,
                                        vmx::proc2::enable_invpcid, vmx::proc2::wbinvd_exiting}) {
            CAPTURE(bit);
            CHECK((g.secondary & bit) == (allowed & bit));
        }
        CHECK(g.vpid == ((allowed & vmx::proc2::enable_vpid) != 0));
        // Nothing else in the secondary word beyond what Metronome asks for.
        CHECK((g.secondary &
               ~(vmx::proc2::enable_ept | vmx::proc2::enable_vpid | vmx::proc2::enable_rdtscp |
                 vmx::proc2::enable_invpcid | vmx::proc2::wbinvd_exiting)) == 0);
        // XSAVES/XRSTORS stays off: IA32_XSS is not switched per guest.
        CHECK((g.secondary & vmx::proc2::enable_xsaves_xrstors) == 0);
    }
}

TEST_CASE("VPID is optional: dropped without error when absent or not wanted") {
    vmx::VmxCaps c = cpu("skylake-i5-6300u.txt");
    REQUIRE(vmx::resolve_guest_controls({}, c).vpid);

    vmx::GuestControlRequest no_vpid;
    no_vpid.use_vpid = false;
    const auto off = vmx::resolve_guest_controls(no_vpid, c);
    CHECK(off.ok);
    CHECK_FALSE(off.vpid);
    CHECK((off.secondary & vmx::proc2::enable_vpid) == 0);

    set_allowed1(c.procbased_ctls2,
                 vmx::proc2::enable_vpid | vmx::proc2::enable_xsaves_xrstors |
                     vmx::proc2::enable_invpcid | vmx::proc2::enable_rdtscp | vmx::proc2::wbinvd_exiting,
                 false);
    const auto lacking = vmx::resolve_guest_controls({}, c);
    CHECK_MESSAGE(lacking.ok, describe(lacking));
    CHECK_FALSE(lacking.vpid);
    CHECK(lacking.secondary == vmx::proc2::enable_ept);
}

TEST_CASE("a CPU that forces HLT exiting on fails a guest without yield_on_hlt, in words") {
    vmx::VmxCaps c = cpu("haswell-pentium-g3240.txt");
    c.true_procbased_ctls |= vmx::proc::hlt_exiting; // allowed-0 = 1: HLT exiting may not be 0
    const auto halting = vmx::resolve_guest_controls({}, c);
    CHECK_FALSE(halting.ok);
    REQUIRE(halting.failure_count == 1);
    CHECK(halting.failures[0].set == ControlSet::primary_processor_based);
    CHECK(halting.failures[0].refused == vmx::proc::hlt_exiting);
    const std::string words = describe(halting);
    CHECK(words.find("CPU forces \"HLT exiting\" on") != std::string::npos);
    CHECK(words.find("IA32_VMX_TRUE_PROCBASED_CTLS allowed-0 = 1") != std::string::npos);

    vmx::GuestControlRequest yield;
    yield.yield_on_hlt = true;
    const auto yielding = vmx::resolve_guest_controls(yield, c);
    CHECK(yielding.ok);
    CHECK((yielding.primary & vmx::proc::hlt_exiting) != 0);
}

TEST_CASE("the preemption timer is mandatory, saving its value is not") {
    vmx::VmxCaps c = cpu("nehalem-i7-870.txt");
    set_allowed1(c.true_pinbased_ctls, vmx::pin::activate_preemption_timer, false);
    set_allowed1(c.pinbased_ctls, vmx::pin::activate_preemption_timer, false);
    auto g = vmx::resolve_guest_controls({}, c);
    CHECK_FALSE(g.ok);
    REQUIRE(g.failure_count == 1);
    CHECK((g.pin & vmx::pin::activate_preemption_timer) == 0);
    CHECK(describe(g).find("\"activate VMX-preemption timer\"") != std::string::npos);
    CHECK(describe(g).find("IA32_VMX_TRUE_PINBASED_CTLS") != std::string::npos);

    // Saving the timer's value is optional: without it the run loop re-arms the timer from the
    // TSC, and the guest runs.
    c = cpu("nehalem-i7-870.txt");
    set_allowed1(c.true_exit_ctls, vmx::exit_ctl::save_preemption_timer, false);
    set_allowed1(c.exit_ctls, vmx::exit_ctl::save_preemption_timer, false);
    g = vmx::resolve_guest_controls({}, c);
    CHECK_MESSAGE(g.ok, describe(g));
    CHECK(g.failure_count == 0);
    CHECK_FALSE(g.saves_preemption_timer);
    CHECK((g.exit & vmx::exit_ctl::save_preemption_timer) == 0);
}

TEST_CASE("EPT needs 4-level walks and write-back paging structures") {
    vmx::VmxCaps c = cpu("icelake-i5-1035g1.txt");
    c.ept_vpid_cap &= ~vmx::ept_cap::memory_type_wb;
    auto g = vmx::resolve_guest_controls({}, c);
    CHECK_FALSE(g.ok);
    CHECK_FALSE(g.ept_ok);
    CHECK(g.failure_count == 0);
    CHECK(g.ept_missing == vmx::ept_cap::memory_type_wb);
    CHECK(describe(g).find("write-back") != std::string::npos);
    CHECK(describe(g).find("bit 14") != std::string::npos);

    c.ept_vpid_cap &= ~vmx::ept_cap::page_walk_length_4;
    g = vmx::resolve_guest_controls({}, c);
    CHECK(g.ept_missing == (vmx::ept_cap::memory_type_wb | vmx::ept_cap::page_walk_length_4));
    CHECK(describe(g).find("4-level") != std::string::npos);
}

TEST_CASE("external-interrupt exiting follows intercept_external_interrupts") {
    const vmx::VmxCaps c = cpu("tigerlake-i5-1135g7.txt");
    vmx::GuestControlRequest req;
    req.intercept_external_interrupts = false;
    const auto g = vmx::resolve_guest_controls(req, c);
    CHECK(g.ok);
    CHECK((g.pin & vmx::pin::external_interrupt_exiting) == 0);
    CHECK((g.pin & vmx::pin::nmi_exiting) != 0);
}

TEST_CASE("a CPU without secondary controls fails with every reason, in control-word order") {
    vmx::VmxCaps c = cpu("alderlake-i7-12700.txt");
    c.procbased_ctls &= ~(1ull << 63);
    c.true_procbased_ctls &= ~(1ull << 63);
    const auto g = vmx::resolve_guest_controls({}, c);
    CHECK_FALSE(g.ok);
    CHECK_FALSE(g.ept_ok);
    CHECK(g.ept_missing == 0);
    REQUIRE(g.failure_count == 2);
    CHECK(g.failures[0].set == ControlSet::primary_processor_based);
    CHECK(g.failures[0].refused == vmx::proc::activate_secondary_controls);
    CHECK(g.failures[1].set == ControlSet::secondary_processor_based);
    CHECK(g.failures[1].refused == vmx::proc2::enable_ept); // optional bits are not failures
    CHECK(g.secondary == 0);
    const std::string words = describe(g);
    CHECK(words.find("\"activate secondary controls\" (bit 31 of the primary") !=
          std::string::npos);
    CHECK(words.find("\"enable EPT\"") != std::string::npos);
    CHECK(words.find("IA32_VMX_PROCBASED_CTLS bit 63 = 0") != std::string::npos);
}

TEST_CASE("without TRUE MSRs the default1 controls are forced on and the guest still runs") {
    vmx::VmxCaps c = cpu("cometlake-i7-10700.txt");
    c.basic &= ~(1ull << 55);
    const auto g = vmx::resolve_guest_controls({}, c);
    CHECK_MESSAGE(g.ok, describe(g));
    CHECK((g.primary & vmx::proc::cr3_load_exiting) != 0);
    CHECK((g.primary & vmx::proc::cr3_store_exiting) != 0);
    CHECK((g.exit & vmx::exit_ctl::save_debug_controls) != 0);
    CHECK((g.entry & vmx::entry_ctl::load_debug_controls) != 0);
    CHECK((g.primary & vmx::proc::hlt_exiting) == 0);

    c.basic |= 1ull << 55;
    const auto t = vmx::resolve_guest_controls({}, c);
    CHECK((t.primary & (vmx::proc::cr3_load_exiting | vmx::proc::cr3_store_exiting)) == 0);
    // Requested, not merely forced: a guest's DR7 must never be another's.
    CHECK((t.entry & vmx::entry_ctl::load_debug_controls) != 0);
}

TEST_CASE("guests cannot sleep the CPU or reach the real TPR, and own their debug controls") {
    for (const Cpu& c : all_cpus()) {
        CAPTURE(c.name);
        const vmx::GuestControls g = vmx::resolve_guest_controls({}, c.caps);
        REQUIRE(g.ok);
        CHECK((g.primary & vmx::proc::mwait_exiting) != 0);
        CHECK((g.primary & vmx::proc::monitor_exiting) != 0);
        CHECK((g.primary & vmx::proc::cr8_load_exiting) != 0);
        CHECK((g.primary & vmx::proc::cr8_store_exiting) != 0);
        CHECK((g.exit & vmx::exit_ctl::save_debug_controls) != 0);
        CHECK((g.entry & vmx::entry_ctl::load_debug_controls) != 0);
    }
}
