// The interruption-information format shared by VM-entry event injection and the VM-exit
// fields for vectored events (SDM "VM-Entry Controls for Event Injection", "Information for VM
// Exits Due to Vectored Events"): vector in bits 7:0, type in 10:8, deliver-error-code bit 11,
// NMI unblocking due to IRET bit 12 (exits only), valid bit 31.
#pragma once
#include <cstdint>

namespace vmx {

enum class InterruptionType : std::uint8_t {
    external_interrupt = 0,
    nmi = 2,
    hardware_exception = 3,
    software_interrupt = 4,
    privileged_software_exception = 5, // INT1 (ICEBP)
    software_exception = 6,            // INT3, INTO
    other_event = 7,                   // injection: a pending MTF VM exit (vector 0)
};

namespace vector {
inline constexpr std::uint8_t de = 0, db = 1, nmi = 2, bp = 3, of = 4, br = 5, ud = 6, nm = 7,
                              df = 8, ts = 10, np = 11, ss = 12, gp = 13, pf = 14, mf = 16,
                              ac = 17, mc = 18, xm = 19, ve = 20, cp = 21;
} // namespace vector

namespace interruption_bits {
inline constexpr std::uint32_t vector_mask = 0xffu;
inline constexpr unsigned type_shift = 8;
inline constexpr std::uint32_t type_mask = 7u << type_shift;
inline constexpr std::uint32_t deliver_error_code = 1u << 11;
inline constexpr std::uint32_t nmi_unblocking_due_to_iret = 1u << 12;
inline constexpr std::uint32_t valid = 1u << 31;
inline constexpr std::uint32_t injection_reserved = 0x7ffff000u; // bits 30:12 at VM entry
} // namespace interruption_bits

// Guest activity state (SDM "Guest Non-Register State").
namespace activity {
inline constexpr std::uint32_t active = 0, hlt = 1, shutdown = 2, wait_for_sipi = 3;
} // namespace activity

// Guest interruptibility state (SDM "Guest Non-Register State").
namespace interruptibility {
inline constexpr std::uint32_t blocking_by_sti = 1u << 0;
inline constexpr std::uint32_t blocking_by_mov_ss = 1u << 1;
inline constexpr std::uint32_t blocking_by_smi = 1u << 2;
inline constexpr std::uint32_t blocking_by_nmi = 1u << 3;
inline constexpr std::uint32_t enclave_interruption = 1u << 4;
inline constexpr std::uint32_t reserved = ~0x1fu;
} // namespace interruptibility

inline constexpr std::uint64_t rflags_tf = 1ull << 8;
inline constexpr std::uint64_t rflags_if = 1ull << 9;

// Guest pending debug exceptions (SDM "Guest Non-Register State"): BS, a single-step trap that is
// due at the next instruction boundary; VM entry delivers it as a #DB (SDM "Delivery of Pending
// Debug Exceptions after VM Entry") unless it injects an event, which discards it.
namespace pending_debug {
inline constexpr std::uint64_t single_step = 1ull << 14;
} // namespace pending_debug

constexpr std::uint32_t interruption_info(InterruptionType type, std::uint8_t vector,
                                          bool deliver_error_code) {
    return interruption_bits::valid |
           (static_cast<std::uint32_t>(type) << interruption_bits::type_shift) | vector |
           (deliver_error_code ? interruption_bits::deliver_error_code : 0u);
}

struct DecodedInterruption {
    bool valid;
    InterruptionType type;
    std::uint8_t vector;
    bool has_error_code;
    bool nmi_unblocking_due_to_iret;
};

constexpr DecodedInterruption decode_interruption_info(std::uint32_t info) {
    return {(info & interruption_bits::valid) != 0,
            static_cast<InterruptionType>((info & interruption_bits::type_mask) >>
                                          interruption_bits::type_shift),
            static_cast<std::uint8_t>(info & interruption_bits::vector_mask),
            (info & interruption_bits::deliver_error_code) != 0,
            (info & interruption_bits::nmi_unblocking_due_to_iret) != 0};
}

// The exceptions that push an error code (SDM "Exception and Interrupt Reference"); #CP only
// on processors with CET.
constexpr bool exception_has_error_code(std::uint8_t v) {
    return v == vector::df || v == vector::ts || v == vector::np || v == vector::ss ||
           v == vector::gp || v == vector::pf || v == vector::ac || v == vector::cp;
}

constexpr std::uint32_t inject_external_interrupt(std::uint8_t v) {
    return interruption_info(InterruptionType::external_interrupt, v, false);
}
constexpr std::uint32_t inject_nmi() {
    return interruption_info(InterruptionType::nmi, vector::nmi, false);
}
// The error code itself goes in the VM-entry exception error code field.
constexpr std::uint32_t inject_hardware_exception(std::uint8_t v) {
    return interruption_info(InterruptionType::hardware_exception, v, exception_has_error_code(v));
}

const char* interruption_type_name(InterruptionType type);

// Whether activity state, interruptibility state and RFLAGS agree, independently of any
// injection (SDM "Checks on Guest Non-Register State"): reserved bits clear, not both STI and
// MOV-SS blocking, STI blocking only with RFLAGS.IF = 1, an interrupt shadow only in the active
// state, no SMI blocking outside SMM (Metronome never runs in SMM).
bool guest_interruptibility_valid(std::uint32_t activity_state, std::uint32_t interruptibility,
                                  std::uint64_t guest_rflags, const char** reason);

// Whether VM entry accepts injecting `info` into a guest in the given state, for a protected-
// mode guest: the field's own rules (SDM "Checks on VM-Entry Control Fields": reserved bits,
// type 1 reserved, NMI vector 2, exception vectors below 32, error code exactly for the
// exceptions that push one) and the guest-state rules (SDM "Checks on Guest Non-Register
// State" and RFLAGS in "Checks on Guest Register State"): external interrupts need RFLAGS.IF=1
// and no STI/MOV-SS blocking, NMIs no interrupt shadow (Bochs refuses STI blocking too), and
// in HLT only external interrupts, NMIs, #DB, #MC and a pending MTF may be injected.
// Not checked: the instruction length of software events, and the exemption of processors
// with IA32_VMX_BASIC[56] from the error-code rule. #CP is accepted with or without an error
// code because which is right depends on CET support. An invalid `info` (bit 31 clear)
// injects nothing and is allowed.
bool injection_allowed(std::uint32_t info, std::uint32_t activity_state,
                       std::uint32_t interruptibility, std::uint64_t guest_rflags,
                       const char** reason);

} // namespace vmx
