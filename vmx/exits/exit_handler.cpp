#include "vmx/exits/exit_handler.hpp"

#include "vmx/sched/capacity.hpp"
#include "vmx/exits/exit_helpers.hpp"
#include "vmx/guest/guest_paging.hpp"
#include "vmx/arch/interruption.hpp"
#include "vmx/lib/text.hpp"

namespace vmx {
namespace {

constexpr std::uint64_t cr4_vmxe = 1u << 13;
constexpr std::uint64_t cr4_osxsave = 1u << 18;
constexpr std::uint64_t cr4_pae = 1u << 5;
constexpr std::uint64_t cr0_pe = 1u << 0;
constexpr std::uint64_t cr0_ts = 1u << 3;
constexpr std::uint64_t cr0_pg = 1u << 31;

bool single_step_pending_after(VmcsAccess& vmcs) {
    return (vmcs.read_or_zero(Field::guest_pending_debug_exceptions) & pending_debug::single_step) != 0;
}

std::uint64_t* gpr(GuestContext& guest, unsigned number) { return gpr_by_number(guest.regs, number); }

std::uint64_t read_gpr(GuestContext& guest, VmcsAccess& vmcs, unsigned number) {
    if (number == 4) return vmcs.read_or_zero(Field::guest_rsp);
    const std::uint64_t* r = gpr(guest, number);
    return r != nullptr ? *r : 0;
}

void write_gpr(GuestContext& guest, VmcsAccess& vmcs, unsigned number, std::uint64_t value) {
    if (number == 4) {
        vmcs.write(Field::guest_rsp, value);
        return;
    }
    if (std::uint64_t* r = gpr(guest, number)) *r = value;
}

ExitOutcome handle_cpuid(GuestContext& guest, VmcsAccess& vmcs, ExitServices& services) {
    const auto leaf = static_cast<std::uint32_t>(guest.regs.rax);
    const auto subleaf = static_cast<std::uint32_t>(guest.regs.rcx);
    std::uint32_t r[4] = {0, 0, 0, 0};
    if (leaf >= hypervisor_cpuid_base && leaf <= hypervisor_cpuid_base + 0xff) {
        // Hypervisor leaves: 0x40000000 gives the highest leaf and the signature "Metronome"
        // in EBX:ECX:EDX, the convention guests use to find their hypervisor.
        if (leaf == hypervisor_cpuid_base) {
            r[0] = hypervisor_cpuid_max;
            r[1] = 0x7274654du;  // "Metr"
            r[2] = 0x6d6f6e6fu;  // "onom"
            r[3] = 0x00000065u;  // "e\0\0\0"
        } else {
            capacity_leaf(guest.capacity, leaf, r); // 0x40000001..: zero beyond the last
        }
    } else {
        services.cpuid(leaf, subleaf, r);
        if (leaf == 1) {
            // Hide VMX (a guest cannot use it: VMX instructions raise #UD) and MONITOR/MWAIT
            // (trapped: a guest must not put the CPU to sleep outside its slice), announce a
            // hypervisor, and report OSXSAVE as the guest's own CR4 has it.
            r[2] &= ~((1u << 5) | (1u << 3) | (1u << 27));
            r[2] |= 1u << 31;
            if ((vmcs.read_or_zero(Field::cr4_read_shadow) & cr4_osxsave) != 0) r[2] |= 1u << 27;
            // Guests have no local APIC (guest/ABI.md): its MSRs (IA32_APIC_BASE, x2APIC,
            // IA32_TSC_DEADLINE) raise #GP, so CPUID must not announce the APIC (EDX[9]), x2APIC
            // (ECX[21]) or the TSC-deadline timer (ECX[24]).
            r[3] &= ~(1u << 9);
            r[2] &= ~((1u << 21) | (1u << 24));
        }
        // IA32_TSC_ADJUST raises #GP too: hide it (CPUID.(EAX=07H,ECX=0):EBX[1]).
        if (leaf == 7 && subleaf == 0) r[1] &= ~(1u << 1);
        // No performance monitoring: leaf 0xA (architectural PMU) reads zero, and leaf 1 does
        // not announce IA32_PERF_CAPABILITIES (PDCM, ECX[15]); RDPMC and the counter MSRs #GP.
        if (leaf == 0xa) r[0] = r[1] = r[2] = r[3] = 0;
        if (leaf == 1) r[2] &= ~(1u << 15);
    }
    guest.regs.rax = r[0];
    guest.regs.rbx = r[1];
    guest.regs.rcx = r[2];
    guest.regs.rdx = r[3];
    advance_rip(vmcs);
    return ExitOutcome::resume;
}

ExitOutcome handle_vmcall(GuestContext& guest, VmcsAccess& vmcs, ExitServices& services) {
    ++guest.counters.hypercalls;
    switch (guest.regs.rax) {
    case hypercall::yield:
        guest.regs.rax = hypercall::result_ok;
        advance_rip(vmcs);
        return ExitOutcome::yielded;
    case hypercall::powerdown: {
        FixedText<sizeof(GuestStop::detail)> code;
        code.str("powered down (code ").dec(guest.regs.rbx).chr(')');
        stop_guest(guest, StopReason::powerdown, exit_reason::vmcall, code.c_str());
        guest.stop.code = guest.regs.rbx;
        return ExitOutcome::stopped;
    }
    case hypercall::console_write: {
        const std::uint64_t at = guest.regs.rbx;
        const std::uint64_t length = guest.regs.rcx;
        if (length > hypercall::console_write_max || at > guest.memory_size ||
            length > guest.memory_size - at) {
            guest.regs.rax = hypercall::result_bad_argument;
            advance_rip(vmcs);
            return ExitOutcome::resume;
        }
        // At most console_write_bytes_per_exit bytes per exit, so that no exit runs long: the
        // rest is done by re-executing the VMCALL with RBX and RCX advanced, as an interrupted
        // REP OUTSB would be. A done write returns RBX = its end and RCX = 0.
        const std::uint64_t now = length < hypercall::console_write_bytes_per_exit ? length : hypercall::console_write_bytes_per_exit;
        for (std::uint64_t i = 0; i < now; ++i) {
            console_put(guest, services, static_cast<char>(guest.memory[at + i]));
        }
        guest.regs.rbx = at + now;
        guest.regs.rcx = length - now;
        if (guest.regs.rcx != 0) return ExitOutcome::resume;
        guest.regs.rax = hypercall::result_ok;
        advance_rip(vmcs);
        return ExitOutcome::resume;
    }
    default:
        guest.regs.rax = hypercall::result_unknown;
        advance_rip(vmcs);
        return ExitOutcome::resume;
    }
}

// Reads from ports nobody owns see a floating bus: all ones. A 32-bit IN writes EAX and so
// clears RAX[63:32]; 8- and 16-bit INs keep the rest of RAX (SDM "IN—Input From Port").
std::uint64_t io_in_value(std::uint64_t rax, unsigned size) {
    if (size == 4) return 0xffffffffull;
    const std::uint64_t mask = size == 1 ? 0xffull : 0xffffull;
    return (rax & ~mask) | mask;
}

ExitOutcome handle_io(GuestContext& guest, VmcsAccess& vmcs, ExitServices& services) {
    const IoExit io = decode_io_exit(vmcs.read_or_zero(Field::exit_qualification));
    if (io.string) return handle_string_io(guest, vmcs, services, io);
    if (io.in) {
        guest.regs.rax = io_in_value(guest.regs.rax, io.size);
        ++guest.counters.io_reads_all_ones;
    } else {
        io_out_value(guest, services, io.port, guest.regs.rax, io.size);
    }
    advance_rip(vmcs);
    return ExitOutcome::resume;
}

// MOV to CR0/CR4 exits only for bits the hypervisor owns (the guest/host masks). The guest
// sees its own value through the read shadow; the real register keeps VMX's fixed bits.
ExitOutcome handle_cr_access(GuestContext& guest, VmcsAccess& vmcs) {
    const CrAccessExit q = decode_cr_access(vmcs.read_or_zero(Field::exit_qualification));
    if (q.access_type == 0 && q.cr == 0) {
        const std::uint64_t value = read_gpr(guest, vmcs, q.gpr);
        // Leaving paging or protection from 64-bit code is #GP (SDM "MOV—Move to/from
        // Control Registers"); our guests run in IA-32e mode, so this is the right answer.
        if ((value & cr0_pg) == 0 || (value & cr0_pe) == 0) {
            inject_exception(guest, vmcs, vector::gp);
            return ExitOutcome::resume;
        }
        const std::uint64_t owned = vmcs.read_or_zero(Field::cr0_guest_host_mask);
        const std::uint64_t real = vmcs.read_or_zero(Field::guest_cr0);
        vmcs.write(Field::guest_cr0, (real & owned) | (value & ~owned));
        vmcs.write(Field::cr0_read_shadow, value);
    } else if (q.access_type == 0 && q.cr == 4) {
        const std::uint64_t value = read_gpr(guest, vmcs, q.gpr);
        // VMX is hidden from guests, so setting CR4.VMXE is #GP as on a CPU without VMX;
        // clearing PAE in IA-32e mode is #GP too.
        if ((value & cr4_vmxe) != 0 || (value & cr4_pae) == 0) {
            inject_exception(guest, vmcs, vector::gp);
            return ExitOutcome::resume;
        }
        const std::uint64_t owned = vmcs.read_or_zero(Field::cr4_guest_host_mask);
        const std::uint64_t real = vmcs.read_or_zero(Field::guest_cr4);
        vmcs.write(Field::guest_cr4, (real & owned) | (value & ~owned));
        vmcs.write(Field::cr4_read_shadow, value);
    } else if (q.access_type == 0 && q.cr == 3) {
        vmcs.write(Field::guest_cr3, read_gpr(guest, vmcs, q.gpr));
    } else if (q.access_type == 1 && q.cr == 3) {
        write_gpr(guest, vmcs, q.gpr, vmcs.read_or_zero(Field::guest_cr3));
    } else if (q.access_type == 2) {  // CLTS
        vmcs.write(Field::guest_cr0, vmcs.read_or_zero(Field::guest_cr0) & ~cr0_ts);
        vmcs.write(Field::cr0_read_shadow, vmcs.read_or_zero(Field::cr0_read_shadow) & ~cr0_ts);
    } else if (q.access_type == 3) {  // LMSW: loads CR0[3:0] but cannot clear PE
        const std::uint64_t low = q.lmsw_source & 0xfu;
        const std::uint64_t shadow = vmcs.read_or_zero(Field::cr0_read_shadow);
        const std::uint64_t value = (shadow & ~0xeull) | (low & 0xeu) | (shadow & cr0_pe) | (low & cr0_pe);
        vmcs.write(Field::cr0_read_shadow, value);
        vmcs.write(Field::guest_cr0, (vmcs.read_or_zero(Field::guest_cr0) & ~0xeull) | (value & 0xeu));
    } else if (q.cr == 8) {
        // CR8 (TPR) exits keep the guest away from the real local APIC; the guest's TPR is
        // meaningless here (no virtual APIC), so writes are ignored and reads give 0.
        if (q.access_type == 1) write_gpr(guest, vmcs, q.gpr, 0);
    } else {
        inject_exception(guest, vmcs, vector::ud);
        return ExitOutcome::resume;
    }
    advance_rip(vmcs);
    return ExitOutcome::resume;
}

// XSETBV (SDM "XSETBV—Set Extended Control Register"): #UD without CR4.OSXSAVE, #GP for
// XCR other than 0 or for an invalid XCR0. The value takes effect when the guest next runs.
ExitOutcome handle_xsetbv(GuestContext& guest, VmcsAccess& vmcs, ExitServices& services) {
    if ((vmcs.read_or_zero(Field::cr4_read_shadow) & cr4_osxsave) == 0) {
        inject_exception(guest, vmcs, vector::ud);
        return ExitOutcome::resume;
    }
    const std::uint64_t value = (guest.regs.rdx << 32) | (guest.regs.rax & 0xffffffffu);
    const std::uint64_t supported = services.supported_xcr0();
    const bool avx512 = (value & 0xe0u) != 0;
    const bool valid = (guest.regs.rcx & 0xffffffffu) == 0 && (value & 1u) != 0 &&
                       (value & ~supported) == 0 && !((value & 4u) != 0 && (value & 2u) == 0) &&
                       (!avx512 || ((value & 0xe0u) == 0xe0u && (value & 4u) != 0));
    if (!valid) {
        inject_exception(guest, vmcs, vector::gp);
        return ExitOutcome::resume;
    }
    guest.xcr0 = value;
    advance_rip(vmcs);
    return ExitOutcome::resume;
}

ExitOutcome handle_ept_violation(GuestContext& guest, VmcsAccess& vmcs) {
    const std::uint64_t q = vmcs.read_or_zero(Field::exit_qualification);
    // Exit qualification bits 0/1/2: the access was a read, a write, an instruction fetch.
    const GuestAccess access = (q & 4u) != 0 ? GuestAccess::fetch : (q & 2u) != 0 ? GuestAccess::write : GuestAccess::read;
    return stop_for_ept_violation(guest, vmcs.read_or_zero(Field::guest_physical_address), access, q);
}

ExitOutcome handle_exception_or_nmi(GuestContext& guest, VmcsAccess& vmcs) {
    const auto info = static_cast<std::uint32_t>(vmcs.read_or_zero(Field::exit_interruption_info));
    const DecodedInterruption d = decode_interruption_info(info);
    if (d.type == InterruptionType::nmi) {
        // A host NMI while the guest ran ("NMI exiting"): the firmware has no use for it here,
        // and it must not reach the guest's IDT. Counted, then dropped.
        ++guest.counters.host_interrupts;
        return ExitOutcome::resume;
    }
    // The exception bitmap is empty, so this is unexpected; reflect the event unchanged.
    vmcs.write(Field::entry_interruption_info, info & ~interruption_bits::nmi_unblocking_due_to_iret);
    if (d.has_error_code) vmcs.write(Field::entry_exception_error_code, vmcs.read_or_zero(Field::exit_interruption_error_code));
    return ExitOutcome::resume;
}

ExitOutcome stop_unhandled(GuestContext& guest, VmcsAccess& vmcs, std::uint16_t reason) {
    FixedText<sizeof(GuestStop::detail)> text;
    text.str("unhandled exit: ").str(exit_reason_name(reason)).str(" (reason ").dec(reason);
    text.str("), qualification ").hex(vmcs.read_or_zero(Field::exit_qualification));
    stop_guest(guest, StopReason::unhandled_exit, reason, text.c_str());
    return ExitOutcome::stopped;
}

} // namespace

// Moves the guest past the instruction that exited, as the processor would have completed it.
// Completing an instruction ends any STI or MOV-SS shadow (SDM "Interruptibility State"):
// leaving the bits set would make a later injection fail the VM-entry checks, e.g. for the idle
// loop's "sti; hlt". And an instruction completed with RFLAGS.TF = 1 raises a single-step #DB
// trap (SDM "Single-Step Exception Condition"): it is left pending (BS), so VM entry delivers it
// before the guest's next instruction, exactly where the processor would have.
void advance_rip(VmcsAccess& vmcs) {
    const std::uint64_t rip = vmcs.read_or_zero(Field::guest_rip);
    const std::uint64_t length = vmcs.read_or_zero(Field::exit_instruction_length);
    vmcs.write(Field::guest_rip, rip + length);
    const std::uint64_t blocking = vmcs.read_or_zero(Field::guest_interruptibility_state);
    const std::uint64_t shadow = interruptibility::blocking_by_sti | interruptibility::blocking_by_mov_ss;
    if ((blocking & shadow) != 0) vmcs.write(Field::guest_interruptibility_state, blocking & ~shadow);
    if ((vmcs.read_or_zero(Field::guest_rflags) & rflags_tf) != 0) {
        const std::uint64_t pending = vmcs.read_or_zero(Field::guest_pending_debug_exceptions);
        vmcs.write(Field::guest_pending_debug_exceptions, pending | pending_debug::single_step);
    }
}

void inject_exception(GuestContext& guest, VmcsAccess& vmcs, std::uint8_t vec, std::uint32_t error_code) {
    vmcs.write(Field::entry_interruption_info, inject_hardware_exception(vec));
    if (exception_has_error_code(vec)) vmcs.write(Field::entry_exception_error_code, error_code);
    if (vec == vector::ud) ++guest.counters.ud_injected;
    if (vec == vector::gp) ++guest.counters.gp_injected;
}

void inject_page_fault(GuestContext& guest, VmcsAccess& vmcs, std::uint64_t linear,
                       std::uint32_t error_code) {
    guest.regs.cr2 = linear; // restored into CR2 right before the entry (vmx/hw/vm_entry.S)
    inject_exception(guest, vmcs, vector::pf, error_code);
}

ExitOutcome stop_for_ept_violation(GuestContext& guest, std::uint64_t gpa, GuestAccess access,
                                   std::uint64_t qualification) {
    const char* words = access == GuestAccess::fetch ? "instruction fetch" : access == GuestAccess::write ? "write" : "read";
    FixedText<sizeof(GuestStop::detail)> text;
    text.str("EPT violation: ").str(words).str(" at guest-physical ").hex(gpa);
    text.str(" (outside its ").dec(guest.memory_size >> 10).str(" KiB)");
    stop_guest(guest, StopReason::ept_violation, exit_reason::ept_violation, text.c_str());
    guest.stop.address = gpa;
    guest.stop.code = qualification;
    return ExitOutcome::stopped;
}

void io_out_value(GuestContext& guest, ExitServices& services, std::uint16_t port,
                  std::uint64_t value, unsigned size) {
    if (port == console_port) {
        for (unsigned i = 0; i < size; ++i) console_put(guest, services, static_cast<char>(value >> (8 * i)));
    } else {
        ++guest.counters.io_writes_dropped;
    }
}

const char* stop_reason_key(StopReason reason) {
    switch (reason) {
    case StopReason::none: return "none";
    case StopReason::powerdown: return "powerdown";
    case StopReason::triple_fault: return "triple_fault";
    case StopReason::ept_violation: return "ept_violation";
    case StopReason::entry_failure: return "entry_failure";
    case StopReason::unhandled_exit: return "unhandled_exit";
    case StopReason::hypervisor_error: return "hypervisor_error";
    case StopReason::halted_forever: return "halted_forever";
    }
    return "unknown";
}

void stop_guest(GuestContext& guest, StopReason reason, std::uint16_t exit_reason,
                const char* detail) {
    guest.stop.reason = reason;
    guest.stop.exit_reason = exit_reason;
    Text text(guest.stop.detail, sizeof guest.stop.detail);
    text.str(detail);
}

void console_put(GuestContext& guest, ExitServices& services, char c) {
    ++guest.counters.console_bytes;
    ConsoleBuffer& b = guest.console;
    if (c == '\r') return;
    if (c != '\n') {
        const auto printable = static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
        b.text[b.length++] = printable ? c : '?';
    }
    if (c == '\n' || b.length == ConsoleBuffer::capacity) {
        b.text[b.length] = '\0';
        if (!services.console_line(guest, b.text)) {
            ++guest.counters.console_lines_dropped;
            guest.counters.console_bytes_dropped += b.length + 1; // its newline too
        }
        b.length = 0;
    }
}

ExitOutcome handle_exit(GuestContext& guest, VmcsAccess& vmcs, ExitServices& services) {
    const ExitReason reason = decode_exit_reason(static_cast<std::uint32_t>(vmcs.read_or_zero(Field::exit_reason)));
    if (reason.basic < exit_reason::count) {
        ++guest.counters.exits[reason.basic];
    } else {
        ++guest.counters.exits_other;
    }
    guest.stop.rip = vmcs.read_or_zero(Field::guest_rip);
    if (reason.entry_failure) {
        FixedText<sizeof(GuestStop::detail)> text;
        const std::uint64_t q = vmcs.read_or_zero(Field::exit_qualification);
        text.str("VM entry failed: ").str(exit_reason_name(reason.basic));
        if (reason.basic == exit_reason::entry_failure_guest_state) text.str(": ").str(entry_failure_qualification_text(q));
        stop_guest(guest, StopReason::entry_failure, reason.basic, text.c_str());
        guest.stop.code = q;
        return ExitOutcome::stopped;
    }
    switch (reason.basic) {
    case exit_reason::preemption_timer: return ExitOutcome::preempted;
    case exit_reason::hlt:
        if ((vmcs.read_or_zero(Field::guest_rflags) & rflags_if) == 0) {
            // HLT with interrupts disabled waits for an NMI, SMI or INIT (SDM "HLT—Halt"), and
            // guests get none of them: it can never run again. Left halted, a pending tick would
            // make it runnable under `shared`, and it would sit in HLT through whole slices that
            // belong to the guests still working. Stopped, its turn goes as on_guest_exit says.
            stop_guest(guest, StopReason::halted_forever, reason.basic,
                       "HLT with interrupts disabled (RFLAGS.IF = 0): nothing can wake it");
            return ExitOutcome::stopped;
        }
        advance_rip(vmcs);
        // HLT with RFLAGS.TF = 1 completes with a single-step trap pending, and the #DB wakes the
        // processor at once: the guest does not halt (KVM's kvm_skip_emulated_instruction does
        // the same).
        if (single_step_pending_after(vmcs)) return ExitOutcome::resume;
        return ExitOutcome::halted;
    case exit_reason::cpuid: return handle_cpuid(guest, vmcs, services);
    case exit_reason::vmcall: return handle_vmcall(guest, vmcs, services);
    case exit_reason::io_instruction: return handle_io(guest, vmcs, services);
    case exit_reason::control_register_access: return handle_cr_access(guest, vmcs);
    case exit_reason::xsetbv: return handle_xsetbv(guest, vmcs, services);
    case exit_reason::ept_violation: return handle_ept_violation(guest, vmcs);
    case exit_reason::interrupt_window: return ExitOutcome::interrupt_window;
    case exit_reason::exception_or_nmi: return handle_exception_or_nmi(guest, vmcs);
    case exit_reason::external_interrupt: {
        // "Acknowledge interrupt on exit" took the vector from the controller; the interrupt
        // belongs to the firmware's devices (masked for the run), so it ends here.
        const auto info = static_cast<std::uint32_t>(vmcs.read_or_zero(Field::exit_interruption_info));
        ++guest.counters.host_interrupts;
        if ((info & (1u << 31)) != 0) services.end_of_interrupt(static_cast<std::uint8_t>(info & 0xffu));
        return ExitOutcome::resume;
    }
    case exit_reason::triple_fault:
        stop_guest(guest, StopReason::triple_fault, reason.basic, "triple fault");
        return ExitOutcome::stopped;
    case exit_reason::ept_misconfiguration: {
        FixedText<sizeof(GuestStop::detail)> text;
        text.str("EPT misconfiguration at guest-physical ").hex(vmcs.read_or_zero(Field::guest_physical_address));
        stop_guest(guest, StopReason::hypervisor_error, reason.basic, text.c_str());
        return ExitOutcome::stopped;
    }
    case exit_reason::rdpmc:
        // Guests have no performance counters (CPUID leaf 0xA reads zero): RDPMC of any counter
        // is #GP(0), as on a CPU without them.
    case exit_reason::rdmsr:
    case exit_reason::wrmsr:
        // Only MSRs outside the switched set exit (the MSR bitmap): they belong to the host,
        // and a guest touching one gets what a CPU without it would give, #GP(0).
        inject_exception(guest, vmcs, vector::gp);
        return ExitOutcome::resume;
    case exit_reason::vmclear:
    case exit_reason::vmlaunch:
    case exit_reason::vmptrld:
    case exit_reason::vmptrst:
    case exit_reason::vmread:
    case exit_reason::vmresume:
    case exit_reason::vmwrite:
    case exit_reason::vmxoff:
    case exit_reason::vmxon:
    case exit_reason::invept:
    case exit_reason::invvpid:
    case exit_reason::vmfunc:
    case exit_reason::getsec:
    case exit_reason::mwait:
    case exit_reason::monitor:
        // VMX (and SMX, MONITOR/MWAIT) are not offered to guests: #UD, as on a CPU without them.
        inject_exception(guest, vmcs, vector::ud);
        return ExitOutcome::resume;
    case exit_reason::invd:
    case exit_reason::wbinvd:
        // Caches stay coherent; a guest must not discard the host's dirty lines (INVD).
        advance_rip(vmcs);
        return ExitOutcome::resume;
    default: return stop_unhandled(guest, vmcs, reason.basic);
    }
}

} // namespace vmx
