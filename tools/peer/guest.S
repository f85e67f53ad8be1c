/* The peer guests: tiny 64-bit code that kvm-peer copies to GUEST_CODE in each VM and enters in
 * long mode (paging, GDT, IDT and TSS set up by the host, kvm_vm.c). Position independent: data
 * lives at the fixed guest-physical addresses of guest_layout.h, and the host computes the IDT
 * entries from the symbols below. What each workload does is in guest_layout.h.
 *
 * The vmexit loops copy, instruction for instruction, the loops GCC makes of
 * guest/workloads/vmexit.cpp for Metronome (objdump of builtin-guest.elf): per iteration the
 * exiting instruction and its operand setup, then `mov counter, tmp; add $1, counter;
 * cmp last, tmp; jne`, so NOP costs 5 instructions in both and the round trips subtract alike.
 */
#include "guest_layout.h"

#define MB(slot) (GUEST_MAILBOX + slot)

/* TSC into %rdx (as vmexit.cpp's guest::rdtsc compiles). */
#define READ_TSC rdtsc; shl $32, %rdx; mov %eax, %eax; or %rax, %rdx

/* LOOP_REPETITIONS x n iterations of SETUP + OP; best and worst TSC ticks into the mailbox.
 * %rbp = n - 1, %rsi the counter, %rax the compare temporary, %r8 the start TSC. */
#define MEASURE(slot, SETUP, OP) \
    mov $LOOP_REPETITIONS, %r9d; mov $-1, %r14; xor %r13d, %r13d; \
1:  READ_TSC; mov %rdx, %r8; xor %esi, %esi; \
2:  SETUP; OP; mov %rsi, %rax; add $1, %rsi; cmp %rbp, %rax; jne 2b; \
    READ_TSC; sub %r8, %rdx; \
    cmp %rdx, %r14; cmova %rdx, %r14; cmp %rdx, %r13; cmovb %rdx, %r13; \
    sub $1, %r9; jne 1b; \
    mov %r14, MB(MB_LOOPS + 16 * slot); mov %r13, MB(MB_LOOPS + 16 * slot + 8)

#define NOTHING
#define SETUP_CPUID mov %edi, %eax; mov %edi, %ecx  /* leaf 0, subleaf 0 */
#define SETUP_VMCALL mov %r10, %rax                /* the hypercall number */
#define INB_KERNEL inb $PORT_PIC_MASK, %al
#define INB_USER inb $PORT_USER, %al

    .text
    .globl peer_guest_start, peer_guest_end, peer_guest_entry, peer_guest_tick
    .globl peer_guest_vectors
    .code64

peer_guest_start:
peer_guest_entry:
    READ_TSC
    mov %rdx, MB(MB_FIRST_TSC)
    mov MB(MB_WORKLOAD), %rax
    cmp $WORKLOAD_VMEXIT, %rax
    je vmexit
    cmp $WORKLOAD_SPIN, %rax
    je spin
    cmp $WORKLOAD_IDLE, %rax
    je ticker
    cmp $WORKLOAD_BURSTY, %rax
    je ticker
    cmp $WORKLOAD_CRASH, %rax
    je crash
    cmp $WORKLOAD_NONE, %rax
    je none
    mov $0x200, %eax /* unknown workload */
    jmp done

none:
    mov $DONE_OK, %eax
    jmp done

/* --- vmexit: the exit round trips (guest/workloads/vmexit.cpp's loops). */
vmexit:
    mov MB(MB_PARAM), %rbp
    sub $1, %rbp
    xor %edi, %edi
    mov $UNKNOWN_HYPERCALL, %r10d
    MEASURE(LOOP_NOP, NOTHING, nop)
    MEASURE(LOOP_CPUID, SETUP_CPUID, cpuid)
    MEASURE(LOOP_VMCALL, SETUP_VMCALL, vmcall)
    MEASURE(LOOP_INB_KERNEL, NOTHING, INB_KERNEL)
    MEASURE(LOOP_INB_USER, NOTHING, INB_USER)
    mov $MSR_IA32_APIC_BASE, %ecx
    MEASURE(LOOP_RDMSR, NOTHING, rdmsr)
    mov $DONE_OK, %eax
    jmp done

/* --- spin: count, and record every step of the TSC above the threshold (the CPU was taken
 * away: an exit, an interrupt, another task). IF = 1 (the host's timer must be able to take the
 * CPU back; see tools/PLATFORMS.md). 11 instructions per iteration. */
spin:
    /* Touch the first pages of the gap buffer now: their first use would otherwise be an EPT
     * violation (an exit) inside the measured timeline. */
    mov $GUEST_GAPS, %eax
0:  movq $0, (%rax)
    add $4096, %eax
    cmp $GUEST_GAPS + GAP_PAGES_TOUCHED * 4096, %eax
    jb 0b
    sti
    mov MB(MB_GAP_THRESHOLD), %r14
    READ_TSC
    mov %rdx, %rbx
1:  READ_TSC
    mov %rdx, %rcx
    sub %rbx, %rcx
    cmp %r14, %rcx
    ja 3f
2:  mov %rdx, %rbx
    incq MB(MB_PROGRESS)
    cmpq $0, MB(MB_STOP)
    je 1b
    mov %rbx, MB(MB_LAST_TSC)
    mov $DONE_OK, %eax
    jmp done
3:  mov MB(MB_GAP_COUNT), %rcx
    cmp $GUEST_GAPS_MAX, %rcx
    jae 4f
    shl $4, %rcx
    mov %rbx, GUEST_GAPS(%rcx)
    mov %rdx, GUEST_GAPS + 8(%rcx)
    incq MB(MB_GAP_COUNT)
    jmp 2b
4:  incq MB(MB_GAP_LOST)
    jmp 2b

/* --- idle and bursty: the local APIC timer ticks; the work is done in the tick handler, and
 * between ticks the guest halts (sti; hlt: the interrupt cannot slip in between). */
ticker:
    call start_timer
1:  cli
    cmpq $0, MB(MB_STOP)
    jne 2f
    sti
    hlt
    jmp 1b
2:  mov $DONE_OK, %eax
    jmp done

/* --- crash: spin (IF = 1) until DIE_TICKS ticks were handled, then triple-fault: an IDT of
 * limit 0 turns the #UD into #GP, #DF and a shutdown. */
crash:
    call start_timer
    sti
1:  incq MB(MB_PROGRESS)
    mov MB(MB_TICKS), %rax
    cmp MB(MB_DIE_TICKS), %rax
    jb 1b
    READ_TSC
    mov %rdx, MB(MB_LAST_TSC)
    lidt empty_idt(%rip)
    ud2

/* The in-kernel local APIC (xAPIC MMIO): enabled, timer periodic at TICK_VECTOR, divide by 1
 * (KVM's timer counts 1 per ns), initial count from the mailbox. */
start_timer:
    mov $LAPIC_BASE, %ebx
    movl $0x1FF, 0xF0(%rbx)                 /* spurious vector register: enabled, 0xFF */
    movl $0xB, 0x3E0(%rbx)                  /* divide configuration: by 1 */
    movl $(TICK_VECTOR | 1 << 17), 0x320(%rbx) /* LVT timer: periodic */
    mov MB(MB_TIMER_COUNT), %rax
    movl %eax, 0x380(%rbx)                  /* initial count: starts the timer */
    ret

/* A 64-bit value written, then the port write that ends the run for the host (status %eax). */
done:
    out %eax, $PORT_DONE
1:  cli
    hlt
    jmp 1b

/* --- The tick handler (TICK_VECTOR): count, work, EOI. idle: PARAM rounds of the same
 * xorshift as Metronome's busy_work (guest/runtime/runtime.cpp), progress + 1. bursty: rounds
 * of 100 until BURST_TSC ticks have passed, progress + 1 each. */
peer_guest_tick:
    push %rax
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    incq MB(MB_TICKS)
    mov MB(MB_WORKLOAD), %rax
    cmp $WORKLOAD_IDLE, %rax
    je 1f
    cmp $WORKLOAD_BURSTY, %rax
    je 2f
    jmp 9f
1:  mov MB(MB_PARAM), %rcx
    call busy_work
    incq MB(MB_PROGRESS)
    jmp 9f
2:  READ_TSC
    mov %rdx, %rdi
3:  mov $100, %ecx
    call busy_work
    incq MB(MB_PROGRESS)
    READ_TSC
    sub %rdi, %rdx
    cmp MB(MB_BURST_TSC), %rdx
    jb 3b
9:  mov $LAPIC_BASE, %eax
    movl $0, 0xB0(%rax)                     /* EOI */
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rax
    iretq

/* %rcx rounds of x ^= x << 13; x ^= x >> 7; x ^= x << 17 (clobbers %rax, %rcx, %rdx). */
busy_work:
    movabs $0x9E3779B97F4A7C15, %rax
    test %rcx, %rcx
    jz 2f
1:  mov %rax, %rdx
    shl $13, %rdx
    xor %rdx, %rax
    mov %rax, %rdx
    shr $7, %rdx
    xor %rdx, %rax
    mov %rax, %rdx
    shl $17, %rdx
    xor %rdx, %rax
    sub $1, %rcx
    jnz 1b
2:  ret

/* Any other vector: stop with DONE_EXCEPTION + vector (a guest bug, reported by the host). Each
 * stub is 16 bytes: the host points IDT entry v at peer_guest_vectors + 16 * v. */
    .balign 16
peer_guest_vectors:
    .set .Lvector, 0
    .rept 256
    .balign 16
    push $.Lvector
    jmp exception
    .set .Lvector, .Lvector + 1
    .endr
exception:
    pop %rax
    mov %rax, MB(MB_VECTOR)
    add $DONE_EXCEPTION, %eax
    jmp done

    .balign 8
empty_idt:
    .word 0
    .quad 0
peer_guest_end:

    .section .note.GNU-stack,"",@progbits
