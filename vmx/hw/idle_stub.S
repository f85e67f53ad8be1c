/*
 * The interrupt handler the idle code installs for the instant it lets its own wake-up
 * interrupt in (vmx/hw/idle.cpp): it notes that an interrupt arrived, in this CPU's block (GS
 * points at its CpuHeader: vmx/hw/cpu_block.hpp), and returns. The local
 * APIC's end of interrupt is signalled by the caller, which knows which APIC mode is in use.
 * (SDM "Interrupt and Exception Handling": IRETQ pops RIP, CS, RFLAGS, RSP and SS.)
 */
    .set IDLE_INTERRUPTED, 8     /* offsetof(CpuHeader, idle_interrupted) */

    .text
    .globl metronome_idle_interrupt
    .type metronome_idle_interrupt, @function
metronome_idle_interrupt:
    movb $1, %gs:IDLE_INTERRUPTED
    iretq
    .size metronome_idle_interrupt, .-metronome_idle_interrupt

    .section .note.GNU-stack,"",@progbits
