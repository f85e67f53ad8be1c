/* A vCPU's own counters from KVM's binary statistics (KVM_GET_STATS_FD): how many exits of
 * each kind, L1D flushes, halts, injected interrupts. They say what the time outside the guest
 * was spent on; kvm-peer prints the differences over a run. */
#ifndef PEER_KVM_STATS_H
#define PEER_KVM_STATS_H

#include <stdint.h>

/* The counters kvm-peer reports, by KVM's names (arch/x86/kvm/x86.c). */
#define VCPU_STAT_NAMES                                                                    \
    "exits", "irq_exits", "halt_exits", "io_exits", "mmio_exits", "request_irq_exits",     \
        "signal_exits", "l1d_flush", "hypercalls", "irq_injections", "halt_wakeup",        \
        "halt_successful_poll", "halt_attempted_poll", "preemption_reported"
#define VCPU_STAT_COUNT 14

struct vcpu_stats {
    int fd;
    uint32_t offset[VCPU_STAT_COUNT]; /* in the data block; UINT32_MAX: this KVM lacks it */
    uint64_t value[VCPU_STAT_COUNT];
};

extern const char* const vcpu_stat_names[VCPU_STAT_COUNT];

void vcpu_stats_open(struct vcpu_stats* s, int vcpu_fd, const char* vm_name);
void vcpu_stats_read(struct vcpu_stats* s);
/* Prints "name":after-before,... for the counters this KVM has (a JSON object's inside). */
void vcpu_stats_print_delta(const struct vcpu_stats* before, const struct vcpu_stats* after);

#endif
