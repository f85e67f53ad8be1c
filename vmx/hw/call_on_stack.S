/*
 * void metronome_call_on_stack(void (*fn)(void*), void* argument, void* stack_top);
 *
 * Calls fn(argument) on another stack and returns on the caller's: a processor started by the
 * firmware's MP services runs on the firmware's AP stack, of a size the firmware chooses, and the
 * run loop gets one of a known size instead (boot/hypervisor_run.cpp). System V convention; the
 * new stack is 16-byte aligned at the call (stack_top must be).
 */
    .text
    .globl metronome_call_on_stack
    .type metronome_call_on_stack, @function
metronome_call_on_stack:
    push %rbp
    mov %rsp, %rbp
    mov %rdx, %rsp
    mov %rdi, %rax
    mov %rsi, %rdi
    call *%rax
    mov %rbp, %rsp
    pop %rbp
    ret
    .size metronome_call_on_stack, .-metronome_call_on_stack

    .section .note.GNU-stack,"",@progbits
