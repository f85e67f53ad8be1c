// Capability text parsing (vmx/caps_text) and reading the MSRs that exist (vmx/caps_read).
#include "testdata.hpp"
#include "vmx/caps/caps_read.hpp"
#include "vmx/caps/caps_text.hpp"
#include "vmx/arch/msr.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace m = vmx::msr;

vmx::CapsParseResult parse(const std::string& s) {
    return vmx::parse_caps_text(s.data(), s.size());
}

std::string line(std::uint32_t msr, std::uint64_t value) {
    std::ostringstream s;
    s << vmx::caps_msr_name(msr) << "=0x" << std::hex << value << "\n";
    return s.str();
}

std::uint64_t ctl(std::uint32_t must_be_1, std::uint32_t allowed_1) {
    return (std::uint64_t{allowed_1} << 32) | must_be_1;
}

// A small CPU without TRUE MSRs and without secondary controls, one MSR per line in number order
// (so line N + 1 holds MSR 0x480 + N after the comment line).
std::map<std::uint32_t, std::uint64_t> minimal_msrs() {
    return {
        {m::ia32_vmx_basic, 0x0000100000000001ull},
        {m::ia32_vmx_pinbased_ctls, ctl(0x16, 0x7f)},
        {m::ia32_vmx_procbased_ctls, ctl(0x0401e172, 0x7ffffffe)},
        {m::ia32_vmx_exit_ctls, ctl(0x36dff, 0x7fffff)},
        {m::ia32_vmx_entry_ctls, ctl(0x11ff, 0xffff)},
        {m::ia32_vmx_misc, 0x401c5},
        {m::ia32_vmx_cr0_fixed0, 0x80000021},
        {m::ia32_vmx_cr0_fixed1, 0xffffffff},
        {m::ia32_vmx_cr4_fixed0, 0x2000},
        {m::ia32_vmx_cr4_fixed1, 0x67ff},
        {m::ia32_vmx_vmcs_enum, 0x2a},
    };
}

std::string to_text(const std::map<std::uint32_t, std::uint64_t>& msrs) {
    std::string s = "# synthetic\n";
    for (const auto& [msr, value] : msrs)
        s += line(msr, value);
    return s;
}

bool contains(const char* haystack, const char* needle) {
    return std::strstr(haystack, needle) != nullptr;
}

// The MSRs a CPU with these values implements, from the architectural rules alone; the fake
// reader below refuses to read anything else, as a real CPU would (#GP).
std::set<std::uint32_t> existing_msrs(const vmx::VmxCaps& c) {
    std::set<std::uint32_t> e;
    for (std::uint32_t msr = m::ia32_vmx_basic; msr <= m::ia32_vmx_vmcs_enum; ++msr)
        e.insert(msr);
    if ((c.procbased_ctls >> 63) & 1) {
        e.insert(m::ia32_vmx_procbased_ctls2);
        if (((c.procbased_ctls2 >> 33) & 1) || ((c.procbased_ctls2 >> 37) & 1)) {
            e.insert(m::ia32_vmx_ept_vpid_cap);
        }
    }
    if ((c.basic >> 55) & 1) {
        for (std::uint32_t msr = m::ia32_vmx_true_pinbased_ctls; msr <= m::ia32_vmx_true_entry_ctls;
             ++msr) {
            e.insert(msr);
        }
    }
    return e;
}

struct FakeCpu {
    std::map<std::uint32_t, std::uint64_t> values;
    std::set<std::uint32_t> existing;
    std::vector<std::uint32_t> reads;

    std::uint64_t operator()(std::uint32_t msr) {
        reads.push_back(msr);
        if (existing.count(msr) == 0) {
            FAIL_CHECK("read of MSR 0x" << std::hex << msr
                                        << " which this CPU does not implement (#GP)");
            return 0;
        }
        const auto it = values.find(msr);
        return it == values.end() ? 0 : it->second;
    }
};

std::uint64_t field(const vmx::VmxCaps& c, std::uint32_t msr) {
    switch (msr) {
    case m::ia32_vmx_basic:
        return c.basic;
    case m::ia32_vmx_pinbased_ctls:
        return c.pinbased_ctls;
    case m::ia32_vmx_procbased_ctls:
        return c.procbased_ctls;
    case m::ia32_vmx_exit_ctls:
        return c.exit_ctls;
    case m::ia32_vmx_entry_ctls:
        return c.entry_ctls;
    case m::ia32_vmx_misc:
        return c.misc;
    case m::ia32_vmx_cr0_fixed0:
        return c.cr0_fixed0;
    case m::ia32_vmx_cr0_fixed1:
        return c.cr0_fixed1;
    case m::ia32_vmx_cr4_fixed0:
        return c.cr4_fixed0;
    case m::ia32_vmx_cr4_fixed1:
        return c.cr4_fixed1;
    case m::ia32_vmx_vmcs_enum:
        return c.vmcs_enum;
    case m::ia32_vmx_procbased_ctls2:
        return c.procbased_ctls2;
    case m::ia32_vmx_ept_vpid_cap:
        return c.ept_vpid_cap;
    case m::ia32_vmx_true_pinbased_ctls:
        return c.true_pinbased_ctls;
    case m::ia32_vmx_true_procbased_ctls:
        return c.true_procbased_ctls;
    case m::ia32_vmx_true_exit_ctls:
        return c.true_exit_ctls;
    case m::ia32_vmx_true_entry_ctls:
        return c.true_entry_ctls;
    default:
        return ~0ull;
    }
}

} // namespace

TEST_CASE("caps_text: every capability dump in testdata parses") {
    const auto files = testdata::vmx_caps_files();
    REQUIRE(files.size() >= 8);
    for (const auto& path : files) {
        CAPTURE(path.filename().string());
        const std::string text = testdata::load(path);
        REQUIRE(!text.empty());
        const auto r = parse(text);
        CHECK_MESSAGE(r.ok, r.error);
        CHECK(r.error_line == 0);
        CHECK(r.error[0] == '\0');
        CHECK(r.caps.vmcs_revision() != 0);
        CHECK(r.caps.vmcs_region_size() > 0);
        CHECK(r.caps.vmcs_region_size() <= 4096);
        for (const auto msr : existing_msrs(r.caps)) {
            if (msr != m::ia32_vmx_vmcs_enum) CHECK(r.has(msr));
        }
    }
}

TEST_CASE("caps_text: whitespace, comments, CRLF, blank lines and leading zeros are accepted") {
    const std::string text = "# header comment\r\n"
                             "\n"
                             "   IA32_VMX_BASIC = 0x00da040000000004   # trailing comment\r\n"
                             "\tIA32_VMX_PINBASED_CTLS=0X7F00000016\n"
                             "IA32_VMX_PROCBASED_CTLS=0x7ff9fffe0401e172\n"
                             "IA32_VMX_EXIT_CTLS=0x7fffff00036dff\n"
                             "IA32_VMX_ENTRY_CTLS=0xffff000011ff\n"
                             "IA32_VMX_MISC=0x401c5\n"
                             "IA32_VMX_CR0_FIXED0=0x80000021\n"
                             "IA32_VMX_CR0_FIXED1=0xffffffff\n"
                             "IA32_VMX_CR4_FIXED0=0x2000\n"
                             "IA32_VMX_TRUE_PINBASED_CTLS=0x7f00000016\n"
                             "IA32_VMX_TRUE_PROCBASED_CTLS=0x7ff9fffe04006172\n"
                             "IA32_VMX_TRUE_EXIT_CTLS=0x7fffff00036dfb\n"
                             "IA32_VMX_TRUE_ENTRY_CTLS=0xffff000011fb\n"
                             "IA32_VMX_CR4_FIXED1=0x0000000000000000067ff"; // no final newline
    const auto r = parse(text);
    REQUIRE_MESSAGE(r.ok, r.error);
    CHECK(r.caps.basic == 0x00da040000000004ull);
    CHECK(r.caps.pinbased_ctls == 0x7f00000016ull);
    CHECK(r.caps.true_procbased_ctls == 0x7ff9fffe04006172ull);
    CHECK(r.caps.cr4_fixed1 == 0x67ffull);
    CHECK(r.has(m::ia32_vmx_cr4_fixed1));
    CHECK_FALSE(r.has(m::ia32_vmx_vmcs_enum));
    CHECK_FALSE(r.has(m::ia32_vmx_procbased_ctls2));
    CHECK(r.caps.procbased_ctls2 == 0);
}

TEST_CASE("caps_text: an unknown MSR name is an error naming the line and the name") {
    auto msrs = minimal_msrs();
    std::string text = to_text(msrs);
    text.insert(text.find("IA32_VMX_EXIT_CTLS"), "IA32_VMX_VMFUNC=0x1\n");
    const auto r = parse(text);
    CHECK_FALSE(r.ok);
    CHECK(r.error_line == 5);
    CHECK(contains(r.error, "line 5: "));
    CHECK(contains(r.error, "IA32_VMX_VMFUNC"));

    const auto lower = parse("ia32_vmx_basic=0x1\n");
    CHECK_FALSE(lower.ok);
    CHECK(lower.error_line == 1);
    CHECK(contains(lower.error, "unknown"));

    const auto no_equals = parse("# c\nIA32_VMX_BASIC 0x1\n");
    CHECK_FALSE(no_equals.ok);
    CHECK(no_equals.error_line == 2);
}

TEST_CASE("caps_text: malformed numbers are errors naming the line") {
    const char* bad[] = {"0xZZ",    "12345", "0x",   "",
                         "0x12 34", "0x1g",  "-0x1", "0x10000000000000000"};
    for (const char* value : bad) {
        CAPTURE(value);
        std::string text = to_text(minimal_msrs());
        const auto at = text.find("IA32_VMX_MISC=");
        const auto eol = text.find('\n', at);
        text.replace(at, eol - at, std::string("IA32_VMX_MISC=") + value);
        const auto r = parse(text);
        CHECK_FALSE(r.ok);
        CHECK(r.error_line == 7);
        CHECK(contains(r.error, "line 7: "));
        CHECK(contains(r.error, "IA32_VMX_MISC"));
    }
    // Leading zeros beyond 16 digits are still 64 bits; 17 significant digits are not.
    std::string zeros = to_text(minimal_msrs());
    zeros.replace(zeros.find("IA32_VMX_MISC=0x"), 16, "IA32_VMX_MISC=0x0000000000000000000");
    const auto z = parse(zeros);
    CHECK_MESSAGE(z.ok, z.error);
    CHECK(z.caps.misc == minimal_msrs()[m::ia32_vmx_misc]);
    std::string overflow = to_text(minimal_msrs());
    overflow.replace(overflow.find("IA32_VMX_MISC=0x"), 16, "IA32_VMX_MISC=0x1ffffffffffffffff#");
    CHECK(contains(parse(overflow).error, "64 bits"));
}

TEST_CASE("caps_text: a duplicate MSR is an error naming both lines") {
    auto text = to_text(minimal_msrs());
    text += "\n# again\n" + line(m::ia32_vmx_pinbased_ctls, ctl(0x16, 0x7f));
    const auto r = parse(text);
    CHECK_FALSE(r.ok);
    CHECK(r.error_line == 15);
    CHECK(contains(r.error, "line 15"));
    CHECK(contains(r.error, "IA32_VMX_PINBASED_CTLS"));
    CHECK(contains(r.error, "first on line 3"));
}

TEST_CASE("caps_text: each MSR that every VMX CPU has is required") {
    REQUIRE(parse(to_text(minimal_msrs())).ok);
    for (std::uint32_t msr = m::ia32_vmx_basic; msr <= m::ia32_vmx_vmcs_enum; ++msr) {
        CAPTURE(vmx::caps_msr_name(msr));
        auto msrs = minimal_msrs();
        msrs.erase(msr);
        const auto r = parse(to_text(msrs));
        if (msr == m::ia32_vmx_vmcs_enum) {
            CHECK(r.ok); // nothing in Metronome needs it
        } else {
            CHECK_FALSE(r.ok);
            CHECK(r.error_line == 0);
            CHECK(contains(r.error, vmx::caps_msr_name(msr)));
            CHECK(contains(r.error, "missing"));
        }
    }
    CHECK_FALSE(parse("").ok);
    CHECK_FALSE(vmx::parse_caps_text(nullptr, 0).ok);
}

TEST_CASE("caps_text: TRUE MSRs are required exactly when IA32_VMX_BASIC[55] is set") {
    auto msrs = minimal_msrs();
    msrs[m::ia32_vmx_basic] |= 1ull << 55;
    auto r = parse(to_text(msrs));
    CHECK_FALSE(r.ok);
    CHECK(contains(r.error, "IA32_VMX_TRUE_PINBASED_CTLS"));
    CHECK(contains(r.error, "IA32_VMX_BASIC[55]"));

    msrs[m::ia32_vmx_true_pinbased_ctls] = msrs[m::ia32_vmx_pinbased_ctls];
    msrs[m::ia32_vmx_true_procbased_ctls] = msrs[m::ia32_vmx_procbased_ctls];
    msrs[m::ia32_vmx_true_exit_ctls] = msrs[m::ia32_vmx_exit_ctls];
    r = parse(to_text(msrs));
    CHECK_FALSE(r.ok);
    CHECK(contains(r.error, "IA32_VMX_TRUE_ENTRY_CTLS"));

    msrs[m::ia32_vmx_true_entry_ctls] = msrs[m::ia32_vmx_entry_ctls];
    r = parse(to_text(msrs));
    CHECK_MESSAGE(r.ok, r.error);
    CHECK(r.caps.has_true_controls());
    CHECK(r.caps.true_entry_ctls == msrs[m::ia32_vmx_entry_ctls]);
}

TEST_CASE("caps_text: PROCBASED_CTLS2 and EPT_VPID_CAP are required when the CPU says they exist") {
    auto msrs = minimal_msrs();
    msrs[m::ia32_vmx_procbased_ctls] |= 1ull << 63;
    auto r = parse(to_text(msrs));
    CHECK_FALSE(r.ok);
    CHECK(contains(r.error, "IA32_VMX_PROCBASED_CTLS2"));
    CHECK(contains(r.error, "[63]"));

    msrs[m::ia32_vmx_procbased_ctls2] = ctl(0, 0x1u << 3); // RDTSCP only: no EPT_VPID_CAP
    r = parse(to_text(msrs));
    CHECK_MESSAGE(r.ok, r.error);

    for (const unsigned bit : {1u, 5u}) { // "enable EPT", "enable VPID"
        CAPTURE(bit);
        msrs[m::ia32_vmx_procbased_ctls2] = ctl(0, 1u << bit);
        r = parse(to_text(msrs));
        CHECK_FALSE(r.ok);
        CHECK(contains(r.error, "IA32_VMX_EPT_VPID_CAP"));
    }
    msrs[m::ia32_vmx_ept_vpid_cap] = 0x4141;
    CHECK(parse(to_text(msrs)).ok);
}

TEST_CASE("caps_text: a control MSR whose must-be-1 bit may not be 1 is rejected") {
    auto msrs = minimal_msrs();
    msrs[m::ia32_vmx_entry_ctls] = ctl(0x11ff | (1u << 20), 0xffff);
    const auto r = parse(to_text(msrs));
    CHECK_FALSE(r.ok);
    CHECK(r.error_line == 6);
    CHECK(contains(r.error, "IA32_VMX_ENTRY_CTLS bit 20"));
}

TEST_CASE("caps_text: removing a line from a real dump fails exactly when the CPU has that MSR") {
    for (const auto& path : testdata::vmx_caps_files()) {
        CAPTURE(path.filename().string());
        const std::string text = testdata::load(path);
        const auto full = parse(text);
        REQUIRE(full.ok);
        const auto existing = existing_msrs(full.caps);
        std::istringstream in(text);
        std::vector<std::string> lines;
        for (std::string l; std::getline(in, l);)
            lines.push_back(l);
        for (std::size_t i = 0; i < lines.size(); ++i) {
            if (lines[i].empty() || lines[i][0] == '#') continue;
            std::string without;
            for (std::size_t j = 0; j < lines.size(); ++j) {
                if (j != i) without += lines[j] + "\n";
            }
            const std::string name = lines[i].substr(0, lines[i].find('='));
            CAPTURE(name);
            std::uint32_t msr = 0;
            for (std::uint32_t n = m::ia32_vmx_basic; n <= m::ia32_vmx_true_entry_ctls; ++n) {
                if (name == vmx::caps_msr_name(n)) msr = n;
            }
            REQUIRE(msr != 0);
            const bool needed = existing.count(msr) != 0 && msr != m::ia32_vmx_vmcs_enum;
            const auto r = parse(without);
            CHECK(r.ok == !needed);
            if (needed) CHECK(contains(r.error, name.c_str()));
        }
    }
}

TEST_CASE("caps_text: MSR names and presence bits") {
    CHECK(std::strcmp(vmx::caps_msr_name(m::ia32_vmx_basic), "IA32_VMX_BASIC") == 0);
    CHECK(std::strcmp(vmx::caps_msr_name(m::ia32_vmx_procbased_ctls2),
                      "IA32_VMX_PROCBASED_CTLS2") == 0);
    CHECK(std::strcmp(vmx::caps_msr_name(m::ia32_vmx_true_entry_ctls),
                      "IA32_VMX_TRUE_ENTRY_CTLS") == 0);
    CHECK(vmx::caps_msr_name(0x491) == nullptr);
    CHECK(vmx::caps_msr_name(0x47f) == nullptr);
    CHECK(vmx::caps_present_bit(m::ia32_vmx_basic) == 1u);
    CHECK(vmx::caps_present_bit(m::ia32_vmx_true_entry_ctls) == 1u << 16);
    CHECK(vmx::caps_present_bit(m::ia32_efer) == 0u);
}

TEST_CASE("caps_read: reads exactly the MSRs each real CPU implements") {
    const auto files = testdata::vmx_caps_files();
    REQUIRE(files.size() >= 8);
    for (const auto& path : files) {
        CAPTURE(path.filename().string());
        const auto parsed = parse(testdata::load(path));
        REQUIRE(parsed.ok);
        FakeCpu cpu;
        cpu.existing = existing_msrs(parsed.caps);
        for (const auto msr : cpu.existing)
            cpu.values[msr] = field(parsed.caps, msr);
        const vmx::VmxCaps read = vmx::read_vmx_caps(vmx::make_msr_reader(cpu));
        CHECK(std::set<std::uint32_t>(cpu.reads.begin(), cpu.reads.end()) == cpu.existing);
        CHECK(cpu.reads.size() == cpu.existing.size()); // each once
        for (std::uint32_t msr = m::ia32_vmx_basic; msr <= m::ia32_vmx_true_entry_ctls; ++msr) {
            CAPTURE(vmx::caps_msr_name(msr));
            CHECK(field(read, msr) == (cpu.existing.count(msr) ? field(parsed.caps, msr) : 0));
        }
    }
}

TEST_CASE("caps_read: a CPU without TRUE MSRs or secondary controls is asked for 11 MSRs") {
    FakeCpu cpu;
    cpu.values = minimal_msrs();
    for (const auto& [msr, value] : cpu.values)
        cpu.existing.insert(msr);
    const vmx::VmxCaps c = vmx::read_vmx_caps(vmx::make_msr_reader(cpu));
    CHECK(cpu.reads.size() == 11);
    CHECK(c.procbased_ctls2 == 0);
    CHECK(c.ept_vpid_cap == 0);
    CHECK(c.true_procbased_ctls == 0);
    CHECK(c.misc == cpu.values[m::ia32_vmx_misc]);
}

TEST_CASE("caps_read: EPT_VPID_CAP is read when EPT or VPID may be 1, and only then") {
    struct Case {
        std::uint32_t secondary_allowed_1;
        bool has_cap;
    };
    for (const Case k :
         {Case{1u << 1, true}, Case{1u << 5, true}, Case{1u << 3 | 1u << 7, false}}) {
        CAPTURE(k.secondary_allowed_1);
        FakeCpu cpu;
        cpu.values = minimal_msrs();
        cpu.values[m::ia32_vmx_procbased_ctls] |= 1ull << 63;
        cpu.values[m::ia32_vmx_procbased_ctls2] = ctl(0, k.secondary_allowed_1);
        cpu.values[m::ia32_vmx_ept_vpid_cap] = 0x0f0106114141ull;
        for (const auto& [msr, value] : cpu.values) {
            if (msr != m::ia32_vmx_ept_vpid_cap || k.has_cap) cpu.existing.insert(msr);
        }
        const vmx::VmxCaps c = vmx::read_vmx_caps(vmx::make_msr_reader(cpu));
        CHECK(c.procbased_ctls2 == cpu.values[m::ia32_vmx_procbased_ctls2]);
        CHECK(c.ept_vpid_cap == (k.has_cap ? cpu.values[m::ia32_vmx_ept_vpid_cap] : 0));
        CHECK(cpu.reads.size() == (k.has_cap ? 13u : 12u));
    }
}
