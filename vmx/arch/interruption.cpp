#include "vmx/arch/interruption.hpp"

namespace vmx {

namespace {

bool fail(const char** reason, const char* why) {
    if (reason != nullptr) *reason = why;
    return false;
}

// The field's own rules, checked by VM entry before any guest state.
bool info_well_formed(const DecodedInterruption& d, std::uint32_t info, const char** reason) {
    if ((info & interruption_bits::injection_reserved) != 0)
        return fail(reason, "interruption information bits 30:12 must be 0");
    switch (d.type) {
    case InterruptionType::external_interrupt:
    case InterruptionType::software_interrupt:
    case InterruptionType::privileged_software_exception:
    case InterruptionType::software_exception: break;
    case InterruptionType::nmi:
        if (d.vector != vector::nmi) return fail(reason, "an injected NMI must use vector 2");
        break;
    case InterruptionType::hardware_exception:
        if (d.vector > 31) return fail(reason, "a hardware exception needs a vector below 32");
        break;
    case InterruptionType::other_event:
        if (d.vector != 0) return fail(reason, "'other event' (pending MTF) must use vector 0");
        break;
    default: return fail(reason, "interruption type 1 is reserved");
    }
    const bool is_exception = d.type == InterruptionType::hardware_exception;
    if (is_exception && d.vector == vector::cp) return true;
    const bool wants_code = is_exception && exception_has_error_code(d.vector);
    if (d.has_error_code && !wants_code)
        return fail(reason, "deliver-error-code set for an event that pushes no error code");
    if (!d.has_error_code && wants_code)
        return fail(reason, "deliver-error-code clear for an exception that pushes one");
    return true;
}

// What a processor in a non-active state can take (SDM "Checks on Guest Non-Register State").
bool allowed_in_activity_state(const DecodedInterruption& d, std::uint32_t state,
                               const char** reason) {
    const bool hw = d.type == InterruptionType::hardware_exception;
    switch (state) {
    case activity::active: return true;
    case activity::hlt:
        if (d.type == InterruptionType::external_interrupt || d.type == InterruptionType::nmi)
            return true;
        if (hw && (d.vector == vector::db || d.vector == vector::mc)) return true;
        if (d.type == InterruptionType::other_event && d.vector == 0) return true;
        return fail(reason, "in HLT only external interrupts, NMI, #DB, #MC or MTF may be injected");
    case activity::shutdown:
        if (d.type == InterruptionType::nmi || (hw && d.vector == vector::mc)) return true;
        return fail(reason, "in shutdown only NMI or #MC may be injected");
    case activity::wait_for_sipi:
        return fail(reason, "nothing may be injected in wait-for-SIPI");
    default: return fail(reason, "activity state out of range (0-3)");
    }
}

} // namespace

const char* interruption_type_name(InterruptionType type) {
    switch (type) {
    case InterruptionType::external_interrupt: return "external interrupt";
    case InterruptionType::nmi: return "NMI";
    case InterruptionType::hardware_exception: return "hardware exception";
    case InterruptionType::software_interrupt: return "software interrupt";
    case InterruptionType::privileged_software_exception: return "privileged software exception";
    case InterruptionType::software_exception: return "software exception";
    case InterruptionType::other_event: return "other event";
    }
    return "reserved";
}

bool guest_interruptibility_valid(std::uint32_t activity_state, std::uint32_t interruptibility,
                                  std::uint64_t guest_rflags, const char** reason) {
    namespace ib = vmx::interruptibility;
    const std::uint32_t shadow = ib::blocking_by_sti | ib::blocking_by_mov_ss;
    if (activity_state > activity::wait_for_sipi)
        return fail(reason, "activity state out of range (0-3)");
    if ((interruptibility & ib::reserved) != 0)
        return fail(reason, "interruptibility-state bits 31:5 must be 0");
    if ((interruptibility & shadow) == shadow)
        return fail(reason, "blocking by STI and by MOV SS cannot both be set");
    if ((interruptibility & ib::blocking_by_sti) != 0 && (guest_rflags & rflags_if) == 0)
        return fail(reason, "blocking by STI requires RFLAGS.IF=1");
    if ((interruptibility & shadow) != 0 && activity_state != activity::active)
        return fail(reason, "an STI/MOV-SS interrupt shadow requires the active state");
    if ((interruptibility & ib::blocking_by_smi) != 0)
        return fail(reason, "blocking by SMI is only valid in SMM");
    return true;
}

bool injection_allowed(std::uint32_t info, std::uint32_t activity_state,
                       std::uint32_t interruptibility, std::uint64_t guest_rflags,
                       const char** reason) {
    namespace ib = vmx::interruptibility;
    const DecodedInterruption d = decode_interruption_info(info);
    if (!d.valid) return true;
    if (!info_well_formed(d, info, reason)) return false;
    if (d.type == InterruptionType::external_interrupt) {
        if ((guest_rflags & rflags_if) == 0)
            return fail(reason, "an external interrupt needs RFLAGS.IF=1");
        if ((interruptibility & (ib::blocking_by_sti | ib::blocking_by_mov_ss)) != 0)
            return fail(reason, "an external interrupt cannot be injected in an STI/MOV-SS shadow");
    }
    if (d.type == InterruptionType::nmi) {
        if ((interruptibility & ib::blocking_by_mov_ss) != 0)
            return fail(reason, "an NMI cannot be injected with blocking by MOV SS");
        // The SDM lets a processor refuse this too ("may require"); Bochs does.
        if ((interruptibility & ib::blocking_by_sti) != 0)
            return fail(reason, "an NMI cannot be injected with blocking by STI");
    }
    return allowed_in_activity_state(d, activity_state, reason);
}

} // namespace vmx
