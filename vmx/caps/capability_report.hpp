// The capability report: what this CPU offers for VMX, in words and as one machine-readable line,
// and what Metronome would lack on it. Pure: the shell (boot/) reads CPUID and the MSRs into a
// CpuFacts, this file decides and formats. Host-tested in tests/unit/capability_report_test.cpp.
//
// Only allowed-1 bits (the high 32 bits of a control MSR) and must-be-1 bits (the low 32) are
// checked here, enough to say "can this CPU do X"; resolving a full set of requested controls is
// vmx/caps/controls.hpp's job.
#pragma once
#include "vmx/caps/caps.hpp"
#include "vmx/caps/caps_read.hpp"
#include "vmx/arch/msr.hpp"

#include <cstdint>

namespace vmx {

class Text;

// Everything the shell read. `feature_control` and `caps` mean something only when `vmx` is set:
// reading IA32_FEATURE_CONTROL or a VMX capability MSR on a CPU without VMX raises #GP.
struct CpuFacts {
    char vendor[13] = {}; // CPUID.0: EBX, EDX, ECX
    char brand[49] = {};  // CPUID.80000002H..80000004H; empty when not supported
    std::uint32_t max_basic_leaf = 0;
    bool vmx = false;               // CPUID.1:ECX[5]
    bool hypervisor = false;        // CPUID.1:ECX[31]: we run inside some virtual machine
    bool has_leaf_15h = false;      // max_basic_leaf >= 0x15
    std::uint32_t leaf_15h_eax = 0; // TSC/crystal ratio denominator
    std::uint32_t leaf_15h_ebx = 0; // TSC/crystal ratio numerator
    std::uint32_t leaf_15h_ecx = 0; // crystal frequency in Hz (0: not enumerated)
    std::uint64_t feature_control = 0;
    VmxCaps caps;
};

// Fills facts.feature_control and facts.caps (vmx/caps/caps_read.hpp decides which capability MSRs
// exist) when facts.vmx says the MSRs exist; otherwise reads nothing.
void read_vmx_msrs(CpuFacts& facts, const MsrReader& reader);

enum class FeatureControl : std::uint8_t {
    not_read,       // no VMX: the MSR was not read
    unlocked,       // Metronome sets "VMXON outside SMX" and the lock itself
    locked_vmx_on,  // locked with VMXON outside SMX enabled: ready
    locked_vmx_off, // locked with VMXON outside SMX disabled: only a firmware change helps
};

// The things Metronome needs, as bits of Capabilities::lacks. The optional ones have a fallback
// that Metronome uses instead (need_fallback says which); the others are refused before VMXON,
// with the reason (need_reason).
enum Need : std::uint16_t {
    need_vmx = 1u << 0,
    need_vmx_enabled = 1u << 1, // IA32_FEATURE_CONTROL not locked with VMX off
    need_secondary_controls = 1u << 2,
    need_preemption_timer = 1u << 3,
    need_save_preemption_timer = 1u << 4, // optional: re-armed from the TSC instead
    need_ept = 1u << 5,         // EPT with 4-level walks and write-back paging structures
    need_hlt_exiting = 1u << 6, // settable to 1 and to 0 (yield_on_hlt on and off)
    need_hlt_activity = 1u << 7,
    need_unrestricted_guest = 1u << 8, // optional: only guests that start with paging off
    need_vpid = 1u << 9,               // optional: without it TLBs are flushed on every switch
};
inline constexpr std::uint16_t optional_needs =
    need_unrestricted_guest | need_save_preemption_timer | need_vpid;

struct Capabilities {
    bool vmx = false;
    FeatureControl feature_control = FeatureControl::not_read;
    bool true_controls = false;
    bool secondary_controls = false;
    bool preemption_timer = false;
    unsigned preemption_timer_rate = 0; // the timer counts down once every 2^rate TSC ticks
    bool save_preemption_timer = false;
    bool ept = false;
    bool ept_walk4 = false;
    bool ept_write_back = false;
    bool ept_2mib_pages = false;
    bool vpid = false;
    bool unrestricted_guest = false;
    bool hlt_exiting = false;
    bool hlt_activity = false;
    std::uint16_t lacks = 0; // Need bits
    constexpr bool can_run() const { return (lacks & ~optional_needs) == 0; }
};

Capabilities assess_capabilities(const CpuFacts& facts);

// The report for people: several '\n'-terminated lines.
void write_capability_report(const CpuFacts& facts, Text& out);
// One line for programs, without '\n': `METRONOME-CAPS {json}`. The raw MSRs are hex strings
// under their SDM names ("IA32_VMX_BASIC"), only those that were read.
void write_capability_json(const CpuFacts& facts, Text& out);
// Short names of the Need bits, for messages and the JSON ("preemption_timer").
const char* need_key(Need n);
// Why Metronome needs it (a required need), or what it does without it (an optional one).
const char* need_reason(Need n);
// "this CPU cannot run Metronome: it lacks A: why; B: why" for the required needs that are
// lacking; nothing when it can run.
void describe_cpu_refusal(const Capabilities& caps, Text& out);
// The fallbacks a run on this CPU uses, one "; "-separated phrase each ("" when none).
void describe_cpu_fallbacks(const Capabilities& caps, Text& out);
// The same as a JSON array: [{"lacks":"vpid","instead":"..."}, ...].
void write_fallbacks_json(const Capabilities& caps, Text& out);

} // namespace vmx
