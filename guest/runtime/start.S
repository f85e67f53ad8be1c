// Entry point and interrupt stubs of the guest runtime (GNU assembler, AT&T syntax).
//
// The hypervisor enters _start in 64-bit mode with interrupts off, RSP = top of guest memory,
// RDI = start-info page, RSI = param (guest/ABI.md). _start must be the first byte of the image:
// the linker script puts .text.start first, and the build checks that _start is at 0x10000.

    .section .text.start, "ax", @progbits
    .global _start
    .type _start, @function
_start:
    cli
    cld
    mov     %rdi, %r12                  // start-info page
    mov     %rsi, %r13                  // param
    // Zero .bss: the image file does not contain it.
    lea     __bss_start(%rip), %rdi
    lea     __bss_end(%rip), %rcx
    sub     %rdi, %rcx
    xor     %eax, %eax
    rep stosb
    and     $-16, %rsp                  // the SysV ABI wants RSP % 16 == 0 at a call
    xor     %ebp, %ebp                  // end of the frame chain, for debuggers
    mov     %r12, %rdi
    mov     %r13, %rsi
    call    runtime_start               // never returns
1:  cli
    hlt
    jmp     1b
    .size _start, . - _start

    .text

// uint64_t metronome_hypercall(uint64_t number, uint64_t rbx, uint64_t rcx, uint64_t rdx)
// The only VMCALL in the runtime. RBX is callee-saved in the SysV ABI, so it is saved here.
    .global metronome_hypercall
    .type metronome_hypercall, @function
metronome_hypercall:
    push    %rbx
    mov     %rdi, %rax
    mov     %rsi, %rbx
    xchg    %rdx, %rcx                  // C passes (rdx, rcx) as (3rd, 4th); VMCALL wants the reverse
    vmcall
    pop     %rbx
    ret
    .size metronome_hypercall, . - metronome_hypercall

// The tick handler: two counters, no EOI (there is no virtual APIC). It runs on the interrupted
// stack, which is why everything is built with -mno-red-zone, and touches no vector registers.
    .global guest_tick_entry
    .type guest_tick_entry, @function
guest_tick_entry:
    push    %rax
    incq    guest_tick_count(%rip)
    mov     guest_ticks_seen(%rip), %rax // &start_info->ticks_seen
    incq    (%rax)
    pop     %rax
    iretq
    .size guest_tick_entry, . - guest_tick_entry

// Exception stubs, vectors 0-31. Each pushes a zero error code where the CPU pushes none, then
// its vector, so that every exception reaches exception_common with the same frame:
//   [rsp] vector, error code, RIP, CS, RFLAGS, RSP, SS
// They run on IST1 (set up by runtime_start), so a broken stack still gets a report. A handler
// that a workload installed (guest::set_exception_handler) may take the exception: the stub then
// restores the (possibly changed) registers and returns with IRETQ.
    .macro exception_stub vector
    .balign 16
exception_stub_\vector:
    .if (\vector == 8) || (\vector >= 10 && \vector <= 14) || (\vector == 17) || (\vector == 21) || (\vector == 29) || (\vector == 30)
    .else
    push    $0
    .endif
    push    $\vector
    jmp     exception_common
    .endm

    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    exception_stub \v
    .endr

exception_common:
    push    %r15
    push    %r14
    push    %r13
    push    %r12
    push    %r11
    push    %r10
    push    %r9
    push    %r8
    push    %rbp
    push    %rdi
    push    %rsi
    push    %rdx
    push    %rcx
    push    %rbx
    push    %rax
    mov     %rsp, %rdi                  // ExceptionFrame*
    mov     %rsp, %rbx                  // callee-saved: the frame, after the call
    and     $-16, %rsp
    call    guest_exception             // returns only when a workload handler took the exception
    mov     %rbx, %rsp
    pop     %rax                        // the frame, possibly changed by the handler
    pop     %rbx
    pop     %rcx
    pop     %rdx
    pop     %rsi
    pop     %rdi
    pop     %rbp
    pop     %r8
    pop     %r9
    pop     %r10
    pop     %r11
    pop     %r12
    pop     %r13
    pop     %r14
    pop     %r15
    add     $16, %rsp                   // vector and error code
    iretq

    .section .rodata
    .balign 8
    .global guest_exception_stubs
guest_exception_stubs:                  // the 32 stub addresses, for the IDT
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad   exception_stub_\v
    .endr

    .section .note.GNU-stack, "", @progbits
