/* One single-vCPU KVM virtual machine with a peer guest in it, through the KVM API directly
 * (no QEMU): /dev/kvm, KVM_CREATE_VM, KVM_CREATE_IRQCHIP, KVM_SET_USER_MEMORY_REGION,
 * KVM_CREATE_VCPU, KVM_SET_CPUID2, KVM_SET_SREGS / KVM_SET_REGS, KVM_RUN. Every ioctl's failure
 * ends the program with what failed in words (fail()).
 */
#ifndef PEER_KVM_VM_H
#define PEER_KVM_VM_H

#include <linux/kvm.h>
#include <stdint.h>
#include <stddef.h>

struct vm_options {
    int workload;           /* WORKLOAD_* of guest_layout.h */
    int hlt_exits;          /* 1: KVM's default; 0: KVM_CAP_X86_DISABLE_EXITS(HLT) */
    uint64_t param;         /* MB_PARAM */
    uint64_t timer_count;   /* MB_TIMER_COUNT: LAPIC timer period in ns; 0: no timer */
    uint64_t burst_tsc;     /* MB_BURST_TSC */
    uint64_t die_ticks;     /* MB_DIE_TICKS */
    uint64_t gap_threshold; /* MB_GAP_THRESHOLD */
};

struct peer_vm {
    char name[32];
    int vm_fd;
    int vcpu_fd;
    struct kvm_run* run;
    size_t run_size;
    uint8_t* memory; /* GUEST_MEMORY_SIZE bytes at guest-physical 0 */
};

/* How a vCPU's run ended. */
enum run_end { RUN_DONE, RUN_SHUTDOWN };

struct run_result {
    enum run_end end;
    uint32_t status;        /* the guest's DONE status */
    uint64_t user_exits;    /* PORT_USER reads answered here */
};

/* Prints "kvm-peer: WHAT: strerror(errno)" on stderr and exits with status 1. */
void fail(const char* what, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* /dev/kvm, opened once; checks the API version and the capabilities the peer uses. */
int kvm_device(void);

void vm_create(struct peer_vm* vm, const char* name, const struct vm_options* options);
void vm_destroy(struct peer_vm* vm);

/* A mailbox slot (MB_* of guest_layout.h), read or written while the guest runs. */
volatile uint64_t* vm_mailbox(struct peer_vm* vm, unsigned offset);

/* KVM_RUN until the guest reports DONE or the VM shuts down (triple fault). Answers PORT_USER
 * reads itself; anything else is a failure, reported in words. */
void vm_run(struct peer_vm* vm, struct run_result* result);

/* The host TSC (Bochs: one tick per emulated instruction); the guests' TSC is the same clock
 * (vm_create sets their TSC offset to 0). */
static inline uint64_t host_tsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

#endif
