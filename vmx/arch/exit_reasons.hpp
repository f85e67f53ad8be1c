// Exit reasons, VM-instruction errors and exit qualifications, decoded into words.
// Architecture definitions and pure decoders only; no hardware access.
#pragma once
#include <cstdint>

namespace vmx {

// Basic exit reasons (SDM appendix "VMX Basic Exit Reasons").
namespace exit_reason {
inline constexpr std::uint16_t exception_or_nmi = 0;
inline constexpr std::uint16_t external_interrupt = 1;
inline constexpr std::uint16_t triple_fault = 2;
inline constexpr std::uint16_t init_signal = 3;
inline constexpr std::uint16_t interrupt_window = 7;
inline constexpr std::uint16_t task_switch = 9;
inline constexpr std::uint16_t cpuid = 10;
inline constexpr std::uint16_t getsec = 11;
inline constexpr std::uint16_t hlt = 12;
inline constexpr std::uint16_t invd = 13;
inline constexpr std::uint16_t invlpg = 14;
inline constexpr std::uint16_t rdpmc = 15;
inline constexpr std::uint16_t rdtsc = 16;
inline constexpr std::uint16_t vmcall = 18;
inline constexpr std::uint16_t vmclear = 19;
inline constexpr std::uint16_t vmlaunch = 20;
inline constexpr std::uint16_t vmptrld = 21;
inline constexpr std::uint16_t vmptrst = 22;
inline constexpr std::uint16_t vmread = 23;
inline constexpr std::uint16_t vmresume = 24;
inline constexpr std::uint16_t vmwrite = 25;
inline constexpr std::uint16_t vmxoff = 26;
inline constexpr std::uint16_t vmxon = 27;
inline constexpr std::uint16_t control_register_access = 28;
inline constexpr std::uint16_t mov_dr = 29;
inline constexpr std::uint16_t io_instruction = 30;
inline constexpr std::uint16_t rdmsr = 31;
inline constexpr std::uint16_t wrmsr = 32;
inline constexpr std::uint16_t entry_failure_guest_state = 33;
inline constexpr std::uint16_t entry_failure_msr_loading = 34;
inline constexpr std::uint16_t mwait = 36;
inline constexpr std::uint16_t monitor_trap_flag = 37;
inline constexpr std::uint16_t monitor = 39;
inline constexpr std::uint16_t pause = 40;
inline constexpr std::uint16_t entry_failure_machine_check = 41;
inline constexpr std::uint16_t ept_violation = 48;
inline constexpr std::uint16_t ept_misconfiguration = 49;
inline constexpr std::uint16_t invept = 50;
inline constexpr std::uint16_t rdtscp = 51;
inline constexpr std::uint16_t preemption_timer = 52;
inline constexpr std::uint16_t invvpid = 53;
inline constexpr std::uint16_t wbinvd = 54;
inline constexpr std::uint16_t xsetbv = 55;
inline constexpr std::uint16_t rdrand = 57;
inline constexpr std::uint16_t invpcid = 58;
inline constexpr std::uint16_t vmfunc = 59;
inline constexpr std::uint16_t rdseed = 61;
inline constexpr std::uint16_t xsaves = 63;
inline constexpr std::uint16_t xrstors = 64;
// One past the largest basic exit reason Metronome counts individually.
inline constexpr std::uint16_t count = 80;
} // namespace exit_reason

// The exit-reason field: basic reason in 15:0, flags above (SDM "Basic VM-Exit Information").
// Bits of the exit-reason field beyond the basic reason (SDM "Basic VM-Exit Information").
namespace exit_reason_bits {
inline constexpr std::uint32_t entry_failure = 1u << 31;
} // namespace exit_reason_bits

struct ExitReason {
    std::uint16_t basic;
    bool entry_failure;       // bit 31
    bool from_vmx_root;       // bit 29
    bool pending_mtf;         // bit 28
    bool enclave_mode;        // bit 27
};

constexpr ExitReason decode_exit_reason(std::uint32_t raw) {
    return ExitReason{static_cast<std::uint16_t>(raw & 0xffffu), ((raw >> 31) & 1u) != 0,
                      ((raw >> 29) & 1u) != 0, ((raw >> 28) & 1u) != 0, ((raw >> 27) & 1u) != 0};
}

// "CPUID", "HLT", "EPT violation", ...; "unknown exit reason" for numbers the SDM does not define.
const char* exit_reason_name(std::uint16_t basic);
// A short identifier for reports: "cpuid", "hlt", "ept_violation", ...
const char* exit_reason_key(std::uint16_t basic);

// The VM-instruction error field (SDM "VM Instruction Error Numbers").
const char* vm_instruction_error_text(std::uint32_t number);

// Exit qualification of a VM-entry failure due to invalid guest state (exit reason 33).
const char* entry_failure_qualification_text(std::uint64_t qualification);

// I/O instruction exit qualification (SDM "Exit Qualification for I/O Instructions").
struct IoExit {
    std::uint16_t port;
    std::uint8_t size;   // 1, 2 or 4 bytes
    bool in;             // IN/INS (true) or OUT/OUTS (false)
    bool string;         // INS/OUTS
    bool rep;
    bool immediate_operand;
};

namespace io_qualification {
inline constexpr std::uint64_t size_minus_1 = 7;
inline constexpr std::uint64_t in = 1u << 3;
inline constexpr std::uint64_t string = 1u << 4;
inline constexpr std::uint64_t rep = 1u << 5;
inline constexpr unsigned port_shift = 16;
} // namespace io_qualification

constexpr IoExit decode_io_exit(std::uint64_t q) {
    return IoExit{static_cast<std::uint16_t>((q >> 16) & 0xffffu),
                  static_cast<std::uint8_t>((q & 7u) + 1u), ((q >> 3) & 1u) != 0,
                  ((q >> 4) & 1u) != 0, ((q >> 5) & 1u) != 0, ((q >> 6) & 1u) != 0};
}

// Control-register access exit qualification (SDM "Exit Qualification for Control-Register
// Accesses"): which CR, the access type, and the general register involved.
struct CrAccessExit {
    std::uint8_t cr;
    std::uint8_t access_type;   // 0 MOV to CR, 1 MOV from CR, 2 CLTS, 3 LMSW
    std::uint8_t gpr;           // 0 RAX .. 15 R15
    std::uint16_t lmsw_source;
};

constexpr CrAccessExit decode_cr_access(std::uint64_t q) {
    return CrAccessExit{static_cast<std::uint8_t>(q & 0xfu),
                        static_cast<std::uint8_t>((q >> 4) & 3u),
                        static_cast<std::uint8_t>((q >> 8) & 0xfu),
                        static_cast<std::uint16_t>((q >> 16) & 0xffffu)};
}

static_assert(decode_exit_reason(0x80000021u).basic == 33);
static_assert(decode_exit_reason(0x80000021u).entry_failure);
static_assert(decode_io_exit(0x00e90000u).port == 0xe9 && decode_io_exit(0x00e90000u).size == 1);
static_assert(decode_io_exit(0x03f80008u).in);

} // namespace vmx
