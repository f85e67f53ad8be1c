#include "vmx/caps/caps_text.hpp"

#include "vmx/lib/text.hpp"

namespace vmx {
namespace {

struct CapsMsr {
    const char* name;
    std::uint64_t VmxCaps::*field;
    // A control MSR: low half allowed-0 settings, high half allowed-1 settings (SDM appendix
    // "VMX Capability Reporting Facility"), checked for consistency after parsing.
    bool is_control;
};

// Indexed by msr - IA32_VMX_BASIC.
constexpr CapsMsr kCapsMsrs[caps_msr_count] = {
    {"IA32_VMX_BASIC", &VmxCaps::basic, false},
    {"IA32_VMX_PINBASED_CTLS", &VmxCaps::pinbased_ctls, true},
    {"IA32_VMX_PROCBASED_CTLS", &VmxCaps::procbased_ctls, true},
    {"IA32_VMX_EXIT_CTLS", &VmxCaps::exit_ctls, true},
    {"IA32_VMX_ENTRY_CTLS", &VmxCaps::entry_ctls, true},
    {"IA32_VMX_MISC", &VmxCaps::misc, false},
    {"IA32_VMX_CR0_FIXED0", &VmxCaps::cr0_fixed0, false},
    {"IA32_VMX_CR0_FIXED1", &VmxCaps::cr0_fixed1, false},
    {"IA32_VMX_CR4_FIXED0", &VmxCaps::cr4_fixed0, false},
    {"IA32_VMX_CR4_FIXED1", &VmxCaps::cr4_fixed1, false},
    {"IA32_VMX_VMCS_ENUM", &VmxCaps::vmcs_enum, false},
    {"IA32_VMX_PROCBASED_CTLS2", &VmxCaps::procbased_ctls2, true},
    {"IA32_VMX_EPT_VPID_CAP", &VmxCaps::ept_vpid_cap, false},
    {"IA32_VMX_TRUE_PINBASED_CTLS", &VmxCaps::true_pinbased_ctls, true},
    {"IA32_VMX_TRUE_PROCBASED_CTLS", &VmxCaps::true_procbased_ctls, true},
    {"IA32_VMX_TRUE_EXIT_CTLS", &VmxCaps::true_exit_ctls, true},
    {"IA32_VMX_TRUE_ENTRY_CTLS", &VmxCaps::true_entry_ctls, true},
};

// Present on every CPU with VMX (SDM: "Basic VMX Information" .. "VMX-Fixed Bits in CR4").
// IA32_VMX_VMCS_ENUM exists too, but nothing in Metronome needs it, so a dump may omit it.
constexpr std::uint32_t kRequired =
    caps_present_bit(msr::ia32_vmx_basic) | caps_present_bit(msr::ia32_vmx_pinbased_ctls) |
    caps_present_bit(msr::ia32_vmx_procbased_ctls) | caps_present_bit(msr::ia32_vmx_exit_ctls) |
    caps_present_bit(msr::ia32_vmx_entry_ctls) | caps_present_bit(msr::ia32_vmx_misc) |
    caps_present_bit(msr::ia32_vmx_cr0_fixed0) | caps_present_bit(msr::ia32_vmx_cr0_fixed1) |
    caps_present_bit(msr::ia32_vmx_cr4_fixed0) | caps_present_bit(msr::ia32_vmx_cr4_fixed1);

constexpr std::uint32_t kTrueMsrs = caps_present_bit(msr::ia32_vmx_true_pinbased_ctls) |
                                    caps_present_bit(msr::ia32_vmx_true_procbased_ctls) |
                                    caps_present_bit(msr::ia32_vmx_true_exit_ctls) |
                                    caps_present_bit(msr::ia32_vmx_true_entry_ctls);

constexpr bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// A slice of the input; the text is not NUL-terminated, so slices never are either.
struct Span {
    const char* begin;
    const char* end;
    std::size_t size() const { return static_cast<std::size_t>(end - begin); }
};

Span trim(Span s) {
    while (s.begin < s.end && is_space(*s.begin))
        ++s.begin;
    while (s.end > s.begin && is_space(s.end[-1]))
        --s.end;
    return s;
}

bool equals(Span s, const char* name) {
    const char* p = s.begin;
    for (; p < s.end; ++p, ++name) {
        if (*name == '\0' || *name != *p) return false;
    }
    return *name == '\0';
}

int find_msr(Span name) {
    for (unsigned i = 0; i < caps_msr_count; ++i) {
        if (equals(name, kCapsMsrs[i].name)) return static_cast<int>(i);
    }
    return -1;
}

enum class NumberError { none, not_hex, too_big };

// `0x` (or `0X`) followed by at least one hex digit and nothing else. Leading zeros are fine
// (some dumps print all 16 digits), anything beyond 64 bits is not.
NumberError parse_hex(Span s, std::uint64_t& out) {
    if (s.size() < 3 || s.begin[0] != '0' || (s.begin[1] != 'x' && s.begin[1] != 'X')) {
        return NumberError::not_hex;
    }
    std::uint64_t v = 0;
    for (const char* p = s.begin + 2; p < s.end; ++p) {
        const int d = hex_digit(*p);
        if (d < 0) return NumberError::not_hex;
        if ((v >> 60) != 0) return NumberError::too_big;
        v = (v << 4) | static_cast<std::uint64_t>(d);
    }
    out = v;
    return NumberError::none;
}

void put_span(Text& t, Span s, std::size_t max) {
    std::size_t n = 0;
    for (const char* p = s.begin; p < s.end && n < max; ++p, ++n)
        t.chr(*p);
    if (s.size() > max) t.str("...");
}

// The first MSR in `missing` by number, for a message that names it.
const char* first_name(std::uint32_t missing) {
    for (unsigned i = 0; i < caps_msr_count; ++i) {
        if ((missing >> i) & 1u) return kCapsMsrs[i].name;
    }
    return "?";
}

} // namespace

const char* caps_msr_name(std::uint32_t msr) {
    return is_caps_msr(msr) ? kCapsMsrs[msr - msr::ia32_vmx_basic].name : nullptr;
}

CapsParseResult parse_caps_text(const char* text, std::size_t length) {
    CapsParseResult r;
    Text err(r.error, sizeof r.error);
    unsigned first_line[caps_msr_count] = {};
    auto fail_at = [&](unsigned line) -> Text& {
        r.error_line = line;
        err.clear();
        if (line != 0) err.str("line ").dec(line).str(": ");
        return err;
    };

    const char* p = text;
    const char* const end = text == nullptr ? text : text + length;
    unsigned line = 0;
    while (p < end) {
        ++line;
        Span whole{p, p};
        while (whole.end < end && *whole.end != '\n')
            ++whole.end;
        p = whole.end < end ? whole.end + 1 : end;

        Span content = whole;
        for (const char* c = whole.begin; c < whole.end; ++c) {
            if (*c == '#') {
                content.end = c;
                break;
            }
        }
        content = trim(content);
        if (content.size() == 0) continue;

        const char* eq = content.begin;
        while (eq < content.end && *eq != '=')
            ++eq;
        if (eq == content.end) {
            fail_at(line).str("expected NAME=0xHEX, got \"");
            put_span(err, content, 40);
            err.chr('"');
            return r;
        }
        const Span name = trim(Span{content.begin, eq});
        const Span value = trim(Span{eq + 1, content.end});
        const int index = find_msr(name);
        if (index < 0) {
            fail_at(line).str("unknown MSR name \"");
            put_span(err, name, 48);
            err.chr('"');
            return r;
        }
        const auto i = static_cast<unsigned>(index);
        const CapsMsr& m = kCapsMsrs[i];
        if (first_line[i] != 0) {
            fail_at(line)
                .str(m.name)
                .str(" appears twice (first on line ")
                .dec(first_line[i])
                .chr(')');
            return r;
        }
        std::uint64_t v = 0;
        switch (parse_hex(value, v)) {
        case NumberError::none:
            break;
        case NumberError::not_hex:
            fail_at(line).str("bad number for ").str(m.name).str(" (want 0x and hex digits)");
            return r;
        case NumberError::too_big:
            fail_at(line).str("value of ").str(m.name).str(" does not fit in 64 bits");
            return r;
        }
        // A must-be-1 setting that is not allowed to be 1 cannot come from a real CPU: with
        // such a set no VM entry could succeed, so the dump is damaged.
        if (m.is_control) {
            const auto must_be_1 = static_cast<std::uint32_t>(v);
            const auto allowed_1 = static_cast<std::uint32_t>(v >> 32);
            if ((must_be_1 & ~allowed_1) != 0) {
                unsigned bit = 0;
                while (((must_be_1 & ~allowed_1) >> bit & 1u) == 0)
                    ++bit;
                fail_at(line).str(m.name).str(" bit ").dec(bit).str(" must be 1 but may not be 1");
                return r;
            }
        }
        r.caps.*m.field = v;
        first_line[i] = line;
        r.present |= 1u << i;
    }

    if (const std::uint32_t missing = kRequired & ~r.present; missing != 0) {
        fail_at(0).str(first_name(missing)).str(" missing (every VMX CPU has it)");
        return r;
    }
    // SDM "Basic VMX Information": BASIC[55] = 1 means the TRUE control MSRs exist.
    if (r.caps.has_true_controls()) {
        if (const std::uint32_t missing = kTrueMsrs & ~r.present; missing != 0) {
            fail_at(0).str(first_name(missing)).str(" missing although IA32_VMX_BASIC[55] = 1");
            return r;
        }
    }
    // SDM "Secondary Processor-Based VM-Execution Controls": PROCBASED_CTLS2 exists exactly
    // when "activate secondary controls" may be 1, i.e. PROCBASED_CTLS[63] = 1.
    if (((r.caps.procbased_ctls >> 63) & 1u) != 0) {
        if (!r.has(msr::ia32_vmx_procbased_ctls2)) {
            fail_at(0).str(
                "IA32_VMX_PROCBASED_CTLS2 missing although IA32_VMX_PROCBASED_CTLS[63] = 1");
            return r;
        }
        // SDM "VPID and EPT Capabilities": the MSR exists when "enable EPT" (bit 33) or
        // "enable VPID" (bit 37) may be 1.
        const bool ept_or_vpid = ((r.caps.procbased_ctls2 >> 33) & 1u) != 0 ||
                                 ((r.caps.procbased_ctls2 >> 37) & 1u) != 0;
        if (ept_or_vpid && !r.has(msr::ia32_vmx_ept_vpid_cap)) {
            fail_at(0).str("IA32_VMX_EPT_VPID_CAP missing although EPT or VPID is allowed");
            return r;
        }
    }
    r.ok = true;
    return r;
}

} // namespace vmx
