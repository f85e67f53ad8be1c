#include "vmx/caps/capability_report.hpp"
#include "vmx/caps/caps_text.hpp"
#include "vmx/lib/text.hpp"

#include "testdata.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <set>
#include <string>

namespace {

// A fake RDMSR over a file's values: records every read and fails the test on an MSR the file
// (i.e. the CPU) does not have, as real hardware would raise #GP.
struct FakeMsrs {
    std::map<std::uint32_t, std::uint64_t> values;
    std::set<std::uint32_t> reads;
    std::uint64_t read(std::uint32_t index) {
        reads.insert(index);
        const auto it = values.find(index);
        CHECK_MESSAGE(it != values.end(), "read of a missing MSR 0x" << std::hex << index);
        return it == values.end() ? 0 : it->second;
    }
};

std::uint64_t read_fake(void* fake, std::uint32_t index) {
    return static_cast<FakeMsrs*>(fake)->read(index);
}

// The MSRs of a testdata/vmx-caps file, as the CPU it came from would answer RDMSR.
FakeMsrs fake_from_file(const std::filesystem::path& path) {
    const std::string text = testdata::load(path);
    const vmx::CapsParseResult parsed = vmx::parse_caps_text(text.data(), text.size());
    REQUIRE_MESSAGE(parsed.ok, path.string() << ": " << parsed.error);
    const std::uint64_t vmx::VmxCaps::*fields[] = {
        &vmx::VmxCaps::basic,
        &vmx::VmxCaps::pinbased_ctls,
        &vmx::VmxCaps::procbased_ctls,
        &vmx::VmxCaps::exit_ctls,
        &vmx::VmxCaps::entry_ctls,
        &vmx::VmxCaps::misc,
        &vmx::VmxCaps::cr0_fixed0,
        &vmx::VmxCaps::cr0_fixed1,
        &vmx::VmxCaps::cr4_fixed0,
        &vmx::VmxCaps::cr4_fixed1,
        &vmx::VmxCaps::vmcs_enum,
        &vmx::VmxCaps::procbased_ctls2,
        &vmx::VmxCaps::ept_vpid_cap,
        &vmx::VmxCaps::true_pinbased_ctls,
        &vmx::VmxCaps::true_procbased_ctls,
        &vmx::VmxCaps::true_exit_ctls,
        &vmx::VmxCaps::true_entry_ctls,
    };
    FakeMsrs fake;
    for (std::uint32_t i = 0; i < vmx::caps_msr_count; ++i) {
        const std::uint32_t index = vmx::msr::ia32_vmx_basic + i;
        if (parsed.has(index)) fake.values[index] = parsed.caps.*fields[i];
    }
    fake.values[vmx::msr::ia32_feature_control] = 0; // OVMF leaves it unlocked
    return fake;
}

FakeMsrs fake_from_file(const char* name) {
    return fake_from_file(testdata::vmx_caps_dir() / name);
}

vmx::CpuFacts intel_facts(FakeMsrs& fake) {
    vmx::CpuFacts f;
    std::strcpy(f.vendor, "GenuineIntel");
    std::strcpy(f.brand, "Intel(R) Core(TM) i7-7800X CPU @ 3.50GHz");
    f.max_basic_leaf = 0x16;
    f.vmx = true;
    f.has_leaf_15h = true;
    f.leaf_15h_eax = 2;
    f.leaf_15h_ebx = 0x124;
    vmx::read_vmx_msrs(f, vmx::MsrReader{read_fake, &fake});
    return f;
}

std::string report(const vmx::CpuFacts& f) {
    vmx::FixedText<4096> t;
    vmx::write_capability_report(f, t);
    REQUIRE_FALSE(t.truncated());
    return t.c_str();
}

std::string json(const vmx::CpuFacts& f) {
    vmx::FixedText<2048> t; // the size boot/ uses
    vmx::write_capability_json(f, t);
    REQUIRE_FALSE(t.truncated());
    return t.c_str();
}

bool has(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

} // namespace

TEST_CASE("capability report: no VMX says so, reads no MSR and says Metronome cannot run") {
    FakeMsrs fake; // no MSR at all: any read fails the test
    vmx::CpuFacts f;
    std::strcpy(f.vendor, "AuthenticAMD");
    f.hypervisor = true;
    vmx::read_vmx_msrs(f, vmx::MsrReader{read_fake, &fake});
    CHECK(fake.reads.empty());
    const auto caps = vmx::assess_capabilities(f);
    CHECK_FALSE(caps.can_run());
    CHECK(caps.lacks == vmx::need_vmx);
    const std::string text = report(f);
    CHECK(has(text, "VMX: absent"));
    CHECK(has(text, "Running under a hypervisor: yes"));
    CHECK(has(text, "Metronome would lack: VMX"));
    CHECK(has(text, "Verdict: this CPU cannot run Metronome: it lacks VMX (CPUID.1:ECX[5] = 0): "
                    "Metronome is a VMX hypervisor"));
    CHECK_FALSE(has(text, "IA32_FEATURE_CONTROL"));
    const std::string line = json(f);
    CHECK(line.rfind("METRONOME-CAPS {", 0) == 0);
    CHECK(has(line, "\"vmx\":false"));
    CHECK(has(line, "\"msrs\":{}"));
    CHECK(has(line, "\"lacks\":[\"vmx\"]"));
    CHECK(has(line, "\"can_run\":false"));
}

TEST_CASE("capability report: Bochs 2.7 corei7_skylake_x has everything Metronome needs") {
    FakeMsrs fake = fake_from_file("bochs-2.7-corei7_skylake_x.txt");
    const vmx::CpuFacts f = intel_facts(fake);
    CHECK(fake.reads.size() == 18); // feature control + all 17 capability MSRs exist on Bochs
    const auto caps = vmx::assess_capabilities(f);
    CHECK(caps.preemption_timer);
    CHECK(caps.preemption_timer_rate == 0);
    CHECK(caps.save_preemption_timer);
    CHECK(caps.ept);
    CHECK(caps.ept_walk4);
    CHECK(caps.ept_write_back);
    CHECK(caps.ept_2mib_pages);
    CHECK(caps.vpid);
    CHECK(caps.unrestricted_guest);
    CHECK(caps.hlt_exiting);
    CHECK(caps.hlt_activity);
    CHECK(caps.true_controls);
    CHECK(caps.lacks == 0);
    CHECK(caps.can_run());
    const std::string text = report(f);
    CHECK(has(text, "VMX: present"));
    CHECK(has(text, "VMCS: revision 0x2b, region 4096 bytes"));
    CHECK(has(text, "counts every 2^0 TSC ticks"));
    CHECK(has(text, "IA32_FEATURE_CONTROL: 0x0: unlocked"));
    CHECK(has(text, "Metronome would lack: nothing: this CPU can run Metronome"));
    const std::string line = json(f);
    CHECK(has(line, "\"IA32_VMX_BASIC\":\"0x00d810000000002b\""));
    CHECK(has(line, "\"IA32_VMX_TRUE_ENTRY_CTLS\":\"0x0000ffff000011fb\""));
    CHECK(has(line, "\"preemption_timer_rate\":0"));
    CHECK(has(line, "\"cpuid_15h\":{\"eax\":\"0x2\",\"ebx\":\"0x124\",\"ecx\":\"0x0\"}"));
    CHECK(has(line, "\"lacks\":[],\"lacks_optional\":[],\"can_run\":true}"));
}

TEST_CASE("capability report: Nehalem lacks only unrestricted guest, which is optional") {
    FakeMsrs fake = fake_from_file("nehalem-i7-870.txt");
    const vmx::CpuFacts f = intel_facts(fake);
    const auto caps = vmx::assess_capabilities(f);
    CHECK(caps.lacks == vmx::need_unrestricted_guest);
    CHECK(caps.can_run());
    CHECK(caps.preemption_timer_rate == 5);
    CHECK(caps.ept);
    const std::string text = report(f);
    CHECK(has(text, "counts every 2^5 TSC ticks"));
    CHECK(has(text, "Metronome would lack: unrestricted guest (optional"));
    CHECK(has(text, "Verdict: this CPU can run Metronome, with fallbacks: no unrestricted_guest: "
                    "not needed: every guest starts in 64-bit mode with paging on"));
    const std::string line = json(f);
    CHECK(has(line, "\"lacks\":[],\"lacks_optional\":[\"unrestricted_guest\"]"));
}

TEST_CASE("capability report: without VPID or saving the timer it runs, and says how") {
    FakeMsrs fake = fake_from_file("bochs-2.7-corei7_skylake_x.txt");
    fake.values[0x48b] &= ~(1ull << 37);     // secondary allowed-1 "enable VPID"
    fake.values[0x483] &= ~(1ull << 54);     // exit allowed-1 "save VMX-preemption timer value"
    fake.values[0x48f] &= ~(1ull << 54);
    const vmx::CpuFacts f = intel_facts(fake);
    const auto caps = vmx::assess_capabilities(f);
    CHECK(caps.lacks == (vmx::need_vpid | vmx::need_save_preemption_timer));
    CHECK(caps.can_run());
    vmx::FixedText<512> fallbacks;
    vmx::describe_cpu_fallbacks(caps, fallbacks);
    CHECK(std::string(fallbacks.c_str()) ==
          "no save_preemption_timer: without it the timer is re-armed from the TSC at every VM "
          "entry; no vpid: without it the guests' TLB entries are flushed at every VM entry and "
          "exit");
    vmx::FixedText<64> refusal;
    vmx::describe_cpu_refusal(caps, refusal);
    CHECK(std::string(refusal.c_str()).empty());
    CHECK(has(json(f), "\"lacks\":[],\"lacks_optional\":[\"save_preemption_timer\",\"vpid\"]"));
}

TEST_CASE("capability report: a Core 2 without EPT and preemption timer is refused with reasons") {
    FakeMsrs fake = fake_from_file("bochs-2.7-core2_penryn_t9600.txt");
    const vmx::CpuFacts f = intel_facts(fake);
    const auto caps = vmx::assess_capabilities(f);
    CHECK_FALSE(caps.can_run());
    CHECK((caps.lacks & (vmx::need_ept | vmx::need_preemption_timer)) ==
          (vmx::need_ept | vmx::need_preemption_timer));
    vmx::FixedText<1024> refusal;
    vmx::describe_cpu_refusal(caps, refusal);
    const std::string why = refusal.c_str();
    CHECK(has(why, "this CPU cannot run Metronome: it lacks the VMX preemption timer: it is what "
                   "ends every slice"));
    CHECK(has(why, "EPT with 4-level walks and write-back paging structures: it is how each "
                   "guest's memory is isolated"));
    // Optional needs are never reasons for a refusal.
    CHECK_FALSE(has(why, "VPID"));
    CHECK_FALSE(has(why, "unrestricted"));
}

TEST_CASE("capability report: firmware that locked VMX off is named as the reason") {
    FakeMsrs fake = fake_from_file("bochs-2.7-corei7_skylake_x.txt");
    fake.values[vmx::msr::ia32_feature_control] = vmx::msr::feature_control_lock;
    const vmx::CpuFacts f = intel_facts(fake);
    const auto caps = vmx::assess_capabilities(f);
    CHECK(caps.feature_control == vmx::FeatureControl::locked_vmx_off);
    CHECK(caps.lacks == vmx::need_vmx_enabled);
    CHECK_FALSE(caps.can_run());
    const std::string text = report(f);
    CHECK(has(text, "firmware locked VMX off: Metronome cannot run"));
    CHECK(has(text, "Verdict: this CPU cannot run Metronome: it lacks VMX enabled by the firmware"));
    CHECK(has(json(f), "\"feature_control_state\":\"locked_vmx_off\""));
}

TEST_CASE("capability report: feature control locked with VMXON outside SMX is ready") {
    FakeMsrs fake = fake_from_file("bochs-2.7-corei7_skylake_x.txt");
    fake.values[vmx::msr::ia32_feature_control] =
        vmx::msr::feature_control_lock | vmx::msr::feature_control_vmxon_outside_smx;
    const vmx::CpuFacts f = intel_facts(fake);
    CHECK(vmx::assess_capabilities(f).feature_control == vmx::FeatureControl::locked_vmx_on);
    CHECK(vmx::assess_capabilities(f).can_run());
    CHECK(has(report(f), "IA32_FEATURE_CONTROL: 0x5: locked with VMXON outside SMX enabled"));
}

TEST_CASE("capability MSRs: optional ones are read only when they exist") {
    FakeMsrs fake = fake_from_file("bochs-2.7-corei7_skylake_x.txt");
    SUBCASE("no secondary controls: neither PROCBASED_CTLS2 nor EPT_VPID_CAP") {
        fake.values[0x482] &= ~(1ull << 63);
        fake.values[0x48e] &= ~(1ull << 63);
        fake.values.erase(0x48b);
        fake.values.erase(0x48c);
        const vmx::CpuFacts f = intel_facts(fake);
        CHECK(fake.reads.count(0x48b) == 0);
        CHECK(fake.reads.count(0x48c) == 0);
        const auto caps = vmx::assess_capabilities(f);
        CHECK_FALSE(caps.secondary_controls);
        CHECK_FALSE(caps.ept);
        CHECK((caps.lacks & vmx::need_secondary_controls) != 0);
        CHECK((caps.lacks & vmx::need_ept) != 0);
        CHECK_FALSE(caps.can_run());
        CHECK_FALSE(has(json(f), "IA32_VMX_PROCBASED_CTLS2"));
    }
    SUBCASE("secondary controls without EPT and VPID: no EPT_VPID_CAP") {
        fake.values[0x48b] &= ~((1ull << 33) | (1ull << 37));
        fake.values.erase(0x48c);
        const vmx::CpuFacts f = intel_facts(fake);
        CHECK(fake.reads.count(0x48b) == 1);
        CHECK(fake.reads.count(0x48c) == 0);
        CHECK(vmx::assess_capabilities(f).lacks == (vmx::need_ept | vmx::need_vpid));
    }
    SUBCASE("no IA32_VMX_BASIC[55]: no TRUE MSRs") {
        fake.values[0x480] &= ~(1ull << 55);
        for (std::uint32_t i = 0x48d; i <= 0x490; ++i)
            fake.values.erase(i);
        const vmx::CpuFacts f = intel_facts(fake);
        for (std::uint32_t i = 0x48d; i <= 0x490; ++i)
            CHECK(fake.reads.count(i) == 0);
        CHECK_FALSE(vmx::assess_capabilities(f).true_controls);
        CHECK(vmx::assess_capabilities(f).can_run());
        CHECK_FALSE(has(json(f), "TRUE"));
    }
}

TEST_CASE("capability report: a missing preemption timer or HLT activity state stops Metronome") {
    FakeMsrs fake = fake_from_file("bochs-2.7-corei7_skylake_x.txt");
    fake.values[0x481] &= ~(1ull << 38); // pin-based allowed-1 "activate VMX-preemption timer"
    fake.values[0x48d] &= ~(1ull << 38);
    fake.values[0x485] &= ~(1ull << 6); // IA32_VMX_MISC[6]: HLT activity state
    const vmx::CpuFacts f = intel_facts(fake);
    const auto caps = vmx::assess_capabilities(f);
    CHECK(caps.lacks == (vmx::need_preemption_timer | vmx::need_hlt_activity));
    const std::string text = report(f);
    CHECK(has(text, "Preemption timer: no"));
    CHECK(has(text, "the VMX preemption timer, the HLT activity state"));
    CHECK(has(text, "Verdict: this CPU cannot run Metronome: it lacks the VMX preemption timer"));
    CHECK(has(json(f), "\"lacks\":[\"preemption_timer\",\"hlt_activity\"]"));
}

TEST_CASE("capability report: HLT exiting must be clearable, judged by the TRUE MSR") {
    FakeMsrs fake = fake_from_file("bochs-2.7-corei7_skylake_x.txt");
    // The legacy MSR claims HLT exiting is must-be-1; the TRUE MSR (authoritative with
    // BASIC[55]) says it may be 0.
    fake.values[0x482] |= 1ull << 7;
    SUBCASE("with TRUE MSRs") {
        const vmx::CpuFacts f = intel_facts(fake);
        CHECK(vmx::assess_capabilities(f).hlt_exiting);
    }
    SUBCASE("without TRUE MSRs the legacy must-be-1 bit counts") {
        fake.values[0x480] &= ~(1ull << 55);
        const vmx::CpuFacts f = intel_facts(fake);
        CHECK_FALSE(vmx::assess_capabilities(f).hlt_exiting);
        CHECK(has(report(f), "HLT exiting that can be turned on and off"));
    }
}

TEST_CASE("capability report: every CPU in testdata fits the buffers boot/ uses") {
    int files = 0;
    for (const auto& path : testdata::vmx_caps_files()) {
        CAPTURE(path.filename().string());
        FakeMsrs fake = fake_from_file(path);
        const vmx::CpuFacts f = intel_facts(fake);
        const std::string text = report(f);
        const std::string line = json(f);
        CHECK(line.back() == '}');
        CHECK(line.find('\n') == std::string::npos);
        CHECK(has(text, "Metronome would lack: "));
        ++files;
    }
    CHECK(files >= 2);
}
