// What the exit handlers share (vmx/exits/*.cpp): completing an instruction, raising an exception
// in the guest, stopping the guest for an access outside its memory, the general registers by
// number, and each family's handler for the dispatch in exit_handler.cpp. Internal to vmx/exits.
#pragma once
#include <cstdint>

#include "vmx/arch/exit_reasons.hpp"
#include "vmx/arch/interruption.hpp"
#include "vmx/arch/x86.hpp"
#include "vmx/exits/exit_handler.hpp"
#include "vmx/vmcs/vmcs_access.hpp"

namespace vmx {

// REP INS/OUTS: elements handled per exit; the rest by re-executing the instruction.
inline constexpr std::uint64_t string_io_elements_per_exit = 16;

// Moves the guest past an instruction of `length` bytes as the processor would have completed
// it. Completing an instruction ends any STI or MOV-SS shadow (SDM "Interruptibility State"):
// leaving the bits set would make a later injection fail the VM-entry checks, e.g. for the idle
// loop's "sti; hlt". And an instruction completed with RFLAGS.TF = 1 raises a single-step #DB
// trap (SDM "Single-Step Exception Condition"): it is left pending (BS), so VM entry delivers it
// before the guest's next instruction, exactly where the processor would have. Inline: it is on
// every handled exit's path.
[[gnu::always_inline]] inline void advance_rip_by(std::uint64_t length) {
    vmcs::write(Field::guest_rip, vmcs::read(Field::guest_rip) + length);
    const std::uint64_t blocking = vmcs::read(Field::guest_interruptibility_state);
    const std::uint64_t shadow = interruptibility::blocking_by_sti | interruptibility::blocking_by_mov_ss;
    if ((blocking & shadow) != 0) vmcs::write(Field::guest_interruptibility_state, blocking & ~shadow);
    if ((vmcs::read(Field::guest_rflags) & rflags::tf) != 0) {
        const std::uint64_t pending = vmcs::read(Field::guest_pending_debug_exceptions);
        vmcs::write(Field::guest_pending_debug_exceptions, pending | pending_debug::single_step);
    }
}
// The same for the instruction that exited (its length from the exit information).
[[gnu::always_inline]] inline void advance_rip() { advance_rip_by(vmcs::read(Field::exit_instruction_length)); }
// Sets up a hardware exception for injection at the next entry, with its error code if it has one.
void inject_exception(Vcpu& guest, std::uint8_t vector, std::uint32_t error_code = 0);
// A page fault at `linear`: CR2 and the error code as the processor sets them.
void inject_page_fault(Vcpu& guest, std::uint64_t linear, std::uint32_t error_code);

enum class GuestAccess : std::uint8_t { read, write, fetch };
// The answer for an access to a guest-physical address outside the guest's memory, which is what
// the processor's EPT would report: the guest stops, the report names the GPA and the access.
ExitOutcome stop_for_ept_violation(Vcpu& guest, std::uint64_t gpa, GuestAccess access,
                                   std::uint64_t qualification);

// CR4 as the guest sees it: the read shadow for the bits the hypervisor owns (the guest/host
// mask), the real register for the rest (the guest writes those without an exit).
std::uint64_t guest_visible_cr4();

// A general register by the SDM's number (0 RAX ... 15 R15; 4 is RSP, in the VMCS).
std::uint64_t read_gpr(Vcpu& guest, unsigned number);
void write_gpr(Vcpu& guest, unsigned number, std::uint64_t value);

// The handlers, one file per family.
ExitOutcome handle_cpuid(Vcpu& guest);                         // cpuid.cpp
ExitOutcome handle_vmcall(Vcpu& guest);                        // vmcall.cpp
ExitOutcome handle_io(Vcpu& guest);                            // io.cpp
ExitOutcome handle_string_io(Vcpu& guest, const IoExit& io);   // string_io.cpp
ExitOutcome handle_msr(Vcpu& guest, std::uint16_t reason);     // msr.cpp: RDMSR, WRMSR, RDPMC
ExitOutcome handle_cr_access(Vcpu& guest);                     // cr_access.cpp
ExitOutcome handle_xsetbv(Vcpu& guest);                        // xsetbv.cpp
ExitOutcome handle_hlt(Vcpu& guest);                           // events.cpp
ExitOutcome handle_interrupt_window(Vcpu& guest);              // events.cpp
ExitOutcome handle_ept_violation(Vcpu& guest);                 // events.cpp
// A Linux guest's access to its xAPIC page (vmx/devices/lapic.hpp), emulated.
ExitOutcome handle_apic_access(Vcpu& guest, std::uint64_t gpa); // mmio.cpp
ExitOutcome handle_exception_or_nmi(Vcpu& guest);              // events.cpp
ExitOutcome handle_external_interrupt(Vcpu& guest);            // events.cpp
ExitOutcome handle_entry_failure(Vcpu& guest, const ExitReason& reason); // events.cpp
ExitOutcome stop_unhandled(Vcpu& guest, std::uint16_t reason); // events.cpp

// Interrupt-window exiting on or off for the current guest (written only when it changes:
// the check is inline, the VMCS write is not).
void change_interrupt_window(Vcpu& guest, bool on);              // interrupts.cpp
inline void set_interrupt_window(Vcpu& guest, bool on) {
    if (guest.window_armed != on) change_interrupt_window(guest, on);
}
// The event an exit interrupted the delivery of (IDT-vectoring information) is set up for
// injection again, so the guest does not lose it. Inline up to the common answer: none.
void reinject_event(std::uint32_t idt_vectoring_info);           // interrupts.cpp
inline void reinject_interrupted_event() {
    const auto info = static_cast<std::uint32_t>(vmcs::read(Field::idt_vectoring_info));
    if ((info & interruption_bits::valid) != 0) reinject_event(info);
}
// The guest can take an external interrupt at the coming entry.
bool guest_can_take_interrupt();
// A Linux guest: injects its virtual PC's pending interrupt if it can take it now, else arms an
// interrupt-window exit for it (or disarms the window when nothing is pending). True: injected.
bool deliver_pc_interrupt(Vcpu& guest);
// A Linux guest's TSC now (the host's plus its offset), and its APIC timer's due time as a host
// TSC value (~0: not armed).
std::uint64_t guest_tsc_now(const Vcpu& guest);
std::uint64_t pc_timer_due_host(const Vcpu& guest);
// Its APIC timer's due time has come: the timer's interrupt is requested (unless masked).
bool pc_timer_tick(Vcpu& guest);

// OUT of `size` bytes of `value` to `port`: the console port prints, a Linux guest's PC takes
// its ports, every other port drops it. True when the guest asked its PC to reset.
bool io_out_value(Vcpu& guest, std::uint16_t port, std::uint64_t value, unsigned size);
// Stops a guest that asked for a reset (nothing is reset: the report says `reboot`).
ExitOutcome stop_for_reset(Vcpu& guest, std::uint16_t port, std::uint64_t value);
// What an IN from a port nobody owns reads: all ones.
inline constexpr std::uint64_t floating_bus = ~0ull;

} // namespace vmx
