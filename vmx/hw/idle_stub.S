/*
 * The interrupt handler the idle code installs for the instant it lets its own wake-up
 * interrupt in (vmx/hw/idle.cpp): it notes that an interrupt arrived and returns. The local
 * APIC's end of interrupt is signalled by the caller, which knows which APIC mode is in use.
 * (SDM "Interrupt and Exception Handling": IRETQ pops RIP, CS, RFLAGS, RSP and SS.)
 */
    .text
    .globl metronome_idle_interrupt
    .type metronome_idle_interrupt, @function
metronome_idle_interrupt:
    movb $1, metronome_idle_interrupted(%rip)
    iretq
    .size metronome_idle_interrupt, .-metronome_idle_interrupt

    .bss
    .globl metronome_idle_interrupted
metronome_idle_interrupted:
    .byte 0

    .section .note.GNU-stack,"",@progbits
