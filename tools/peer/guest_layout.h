/* The peer guests' memory layout and mailbox, shared by the host program (kvm_*.c) and the guest
 * code (guest.S, preprocessed). Each VM has GUEST_MEMORY_SIZE bytes at guest-physical 0, identity
 * mapped with 2 MiB pages, plus the local APIC page at 0xFEE00000 (answered inside KVM).
 *
 * The mailbox is one page of 64-bit slots the host writes before the run (workload, parameters)
 * and reads during and after it (progress, ticks, recorded gaps, loop timings).
 */
#ifndef PEER_GUEST_LAYOUT_H
#define PEER_GUEST_LAYOUT_H

#define GUEST_MEMORY_SIZE 0x200000
#define GUEST_PML4 0x1000
#define GUEST_PDPT 0x2000
#define GUEST_PD_LOW 0x3000  /* 0 .. 1 GiB: the guest's memory */
#define GUEST_PD_HIGH 0x4000 /* 3 .. 4 GiB: the local APIC */
#define GUEST_GDT 0x5000
#define GUEST_IDT 0x6000
#define GUEST_TSS 0x7000
#define GUEST_MAILBOX 0x8000
#define GUEST_CODE 0x10000
#define GUEST_CODE_MAX 0x10000
/* Gaps a spinner saw in its own TSC: pairs (TSC before, TSC after), 16 bytes each. */
#define GUEST_GAPS 0x40000
#define GUEST_GAPS_MAX ((GUEST_STACK_BOTTOM - GUEST_GAPS) / 16)
#define GAP_PAGES_TOUCHED 4 /* touched before the spinner starts timing: 1,024 gaps */
#define GUEST_STACK_BOTTOM 0x1F0000
#define GUEST_STACK_TOP 0x200000

#define GUEST_CODE_SELECTOR 0x08
#define GUEST_DATA_SELECTOR 0x10
#define GUEST_TSS_SELECTOR 0x18

#define LAPIC_BASE 0xFEE00000
#define TICK_VECTOR 0x20

/* Ports. PORT_DONE: the guest is finished (OUT, value = status), always answered in
 * userspace. PORT_USER: read in the vmexit loops, answered in userspace (no device there).
 * PORT_PIC_MASK: the in-kernel 8259's mask register, answered inside KVM. */
#define PORT_DONE 0xF4
#define PORT_USER 0x80
#define PORT_PIC_MASK 0x21
#define DONE_OK 0
#define DONE_EXCEPTION 0x100 /* + vector */

#define MSR_IA32_APIC_BASE 0x1B

/* Workloads. */
#define WORKLOAD_VMEXIT 1 /* the exit round trips, then DONE */
#define WORKLOAD_SPIN 2   /* counts, records gaps in its TSC, until STOP */
#define WORKLOAD_IDLE 3   /* LAPIC timer ticks: PARAM rounds of work per tick, HLT in between */
#define WORKLOAD_BURSTY 4 /* LAPIC timer ticks: works BURST_TSC TSC ticks per tick, HLT */
#define WORKLOAD_CRASH 5  /* spins until DIE_TICKS ticks, then triple-faults */
#define WORKLOAD_NONE 6   /* DONE at once: how long a VM takes to start, nothing else */

/* Mailbox slots: byte offsets from GUEST_MAILBOX. */
#define MB_WORKLOAD 0x00
#define MB_PARAM 0x08         /* vmexit: iterations per loop; idle: rounds of work per tick */
#define MB_STOP 0x10          /* the host writes 1: spinners and tickers finish (DONE) */
#define MB_PROGRESS 0x18      /* spin iterations, or units of tick work */
#define MB_TICKS 0x20         /* timer interrupts handled */
#define MB_GAP_COUNT 0x28     /* gaps recorded at GUEST_GAPS */
#define MB_GAP_LOST 0x30      /* gaps not recorded: the buffer was full */
#define MB_GAP_THRESHOLD 0x38 /* a TSC step above this is a gap (the loop itself takes ~11) */
#define MB_TIMER_COUNT 0x40   /* LAPIC timer initial count (1 count = 1 ns in KVM); 0: none */
#define MB_BURST_TSC 0x48     /* bursty: TSC ticks of work per tick */
#define MB_DIE_TICKS 0x50     /* crash: ticks before the triple fault */
#define MB_FIRST_TSC 0x58
#define MB_LAST_TSC 0x60
#define MB_VECTOR 0x68        /* an unexpected exception's vector */
#define MB_LOOPS 0x100        /* vmexit: LOOP_COUNT x (best, worst) TSC ticks */

/* vmexit loops, in the order they run (tools/metronome_tool/peer_kvm.py names them). */
#define LOOP_NOP 0
#define LOOP_CPUID 1
#define LOOP_VMCALL 2
#define LOOP_INB_KERNEL 3
#define LOOP_INB_USER 4
#define LOOP_RDMSR 5
#define LOOP_COUNT 6
#define LOOP_REPETITIONS 8

#define UNKNOWN_HYPERCALL 0x7fff

#endif
