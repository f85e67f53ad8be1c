#include "vmx/vmcs/vmcs_plan.hpp"

#include <doctest/doctest.h>
#include <array>
#include <cstdio>
#include <string>

#include "testdata.hpp"
#include "vmx/caps/caps_text.hpp"
#include "vmx/arch/control_registers.hpp"

namespace {

vmx::VmxCaps caps_of(const std::filesystem::path& file) {
    const std::string text = testdata::load(file);
    const auto parsed = vmx::parse_caps_text(text.data(), text.size());
    REQUIRE_MESSAGE(parsed.ok, parsed.error);
    return parsed.caps;
}

vmx::VmcsPlan plan_for(const vmx::VmxCaps& caps, bool yield_on_hlt, bool paging_off = false) {
    vmx::GuestPlanInput in;
    in.controls.yield_on_hlt = yield_on_hlt;
    in.controls.paging_off_at_entry = paging_off;
    in.entry = vmx::guest_entry_state(2 << 20, 0x10000, 0, false, true);
    in.eptp = 0x123000 | 0x1e;
    in.msr_bitmap = 0x456000;
    vmx::HostState host;
    host.cs = 0x38;
    host.ss = 0x30;
    host.tr = 0x48;
    host.rip = 0xabc000;
    vmx::VmcsPlan plan;
    vmx::build_guest_plan(caps, in, host, plan);
    return plan;
}

// Runs a tool from the build and returns (exit status, stdout + stderr).
std::pair<int, std::string> run_tool(const std::string& command) {
    std::string output;
    FILE* pipe = popen((command + " 2>&1").c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::array<char, 4096> buffer{};
    while (fgets(buffer.data(), buffer.size(), pipe) != nullptr) output += buffer.data();
    const int status = pclose(pipe);
    return {WEXITSTATUS(status), output};
}

} // namespace

TEST_CASE("vmcs plan: controls come first, then execution, host and guest state") {
    const auto plan = plan_for(caps_of(testdata::vmx_caps_dir() / "bochs-2.7-corei7_skylake_x.txt"), true);
    REQUIRE(plan.ok());
    CHECK(plan.writes[0].field == vmx::Field::pin_based_controls);
    CHECK(plan.writes[1].field == vmx::Field::primary_processor_based_controls);
    unsigned host_cr0 = plan.count, guest_cr0 = plan.count, controls_end = 0;
    for (unsigned i = 0; i < plan.count; ++i) {
        const auto f = plan.writes[i].field;
        if (f == vmx::Field::host_cr0) host_cr0 = i;
        if (f == vmx::Field::guest_cr0) guest_cr0 = i;
        if (f == vmx::Field::entry_controls) controls_end = i;
        CHECK_FALSE(vmx::is_read_only(f));
    }
    // The five control words first (their values decide what the other fields may hold), then
    // the execution fields, the host state, the guest state.
    CHECK(controls_end == 4);
    CHECK(host_cr0 < guest_cr0);
    CHECK(guest_cr0 < plan.count);
    CHECK(plan.value_of(vmx::Field::vmcs_link_pointer) == ~0ull);
    CHECK(plan.value_of(vmx::Field::host_rip) == 0xabc000);
    CHECK(plan.value_of(vmx::Field::ept_pointer) == (0x123000 | 0x1e));
    CHECK(plan.value_of(vmx::Field::guest_rip) == 0x10000);
    CHECK(plan.value_of(vmx::Field::guest_tr_selector) == 0x18);
    CHECK(plan.value_of(vmx::Field::exception_bitmap, 1) == 0);
}

TEST_CASE("vmcs plan: HLT exiting exactly with yield_on_hlt, on every CPU file") {
    for (const auto& file : testdata::vmx_caps_files()) {
        CAPTURE(file.filename().string());
        const auto caps = caps_of(file);
        for (bool yield : {false, true}) {
            const auto plan = plan_for(caps, yield);
            if (testdata::refused_cpu(file)) {
                CHECK_FALSE(plan.ok());
                CHECK(plan.count == 0);
                continue;
            }
            REQUIRE(plan.ok());
            const auto primary = plan.value_of(vmx::Field::primary_processor_based_controls);
            CHECK(((primary & vmx::proc::hlt_exiting) != 0) == yield);
            CHECK((plan.value_of(vmx::Field::pin_based_controls) & vmx::pin::activate_preemption_timer) != 0);
            CHECK((plan.value_of(vmx::Field::exit_controls) & vmx::exit_ctl::save_preemption_timer) != 0);
            // The guest's CR0/CR4 satisfy the VMX-fixed bits; the shadows show what it asked for.
            CHECK(vmx::check_cr0(plan.value_of(vmx::Field::guest_cr0), caps, false).ok);
            CHECK(vmx::check_cr4(plan.value_of(vmx::Field::guest_cr4), caps).ok);
            CHECK((plan.value_of(vmx::Field::cr4_read_shadow) & vmx::cr4::vmxe) == 0);
            CHECK((plan.value_of(vmx::Field::cr4_guest_host_mask) & vmx::cr4::vmxe) != 0);
        }
    }
}

TEST_CASE("vmcs plan: host selectors lose RPL and TI bits") {
    vmx::VmxCaps caps = caps_of(testdata::vmx_caps_dir() / "skylake-i5-6300u.txt");
    vmx::GuestPlanInput in;
    in.entry = vmx::guest_entry_state(2 << 20, 0x10000, 0, false, true);
    vmx::HostState host;
    host.cs = 0x3b;
    host.ss = 0x37;
    host.tr = 0x4c;
    vmx::VmcsPlan plan;
    vmx::build_guest_plan(caps, in, host, plan);
    REQUIRE(plan.ok());
    CHECK(plan.value_of(vmx::Field::host_cs_selector) == 0x38);
    CHECK(plan.value_of(vmx::Field::host_ss_selector) == 0x30);
    CHECK(plan.value_of(vmx::Field::host_tr_selector) == 0x48);
}

TEST_CASE("vmcs plan: a refused control leaves the plan empty and says why") {
    const auto plan = plan_for(caps_of(testdata::vmx_caps_dir() / "nehalem-i7-870.txt"), false, true);
    CHECK_FALSE(plan.ok());
    CHECK(plan.count == 0);
    vmx::FixedText<1024> why;
    vmx::describe_plan_failure(plan, why);
    CHECK(std::string(why.c_str()).find("\"unrestricted guest\"") != std::string::npos);
}

TEST_CASE("vmcs-plan tool: paging off needs unrestricted guest: refused where it lacks, planned elsewhere") {
    const auto files = testdata::vmx_caps_files();
    REQUIRE(files.size() >= 18);
    for (const auto& file : files) {
        CAPTURE(file.filename().string());
        const auto [status, out] = run_tool(std::string(METRONOME_TOOLS_DIR) + "/vmcs-plan --caps '" +
                                            file.string() + "' --paging-off");
        if (testdata::lacks_unrestricted_guest(file)) {
            CHECK(status == 2);
            CHECK(out.find("CPU does not allow \"unrestricted guest\"") != std::string::npos);
            CHECK(out.find("IA32_VMX_PROCBASED_CTLS2") != std::string::npos);
        } else {
            CHECK(status == 0);
            CHECK(out.find("secondary_processor_based_controls") != std::string::npos);
            CHECK(out.find("guest_cr0") != std::string::npos);
        }
    }
}

TEST_CASE("vmcs-plan tool: prints both plans without --yield-on-hlt, and rejects bad input") {
    const std::string tool = std::string(METRONOME_TOOLS_DIR) + "/vmcs-plan";
    const auto caps = (testdata::vmx_caps_dir() / "haswell-pentium-g3240.txt").string();
    const auto [status, out] = run_tool(tool + " --caps '" + caps + "'");
    CHECK(status == 0);
    CHECK(out.find("yield_on_hlt=0") != std::string::npos);
    CHECK(out.find("yield_on_hlt=1") != std::string::npos);
    CHECK(run_tool(tool + " --caps /nonexistent").first == 66);
    CHECK(run_tool(tool + " --caps '" + caps + "' --slice-us x").first == 64);
    CHECK(run_tool(tool).first == 64);
}
