/* `kvm-peer vmexit [--iterations N]`: the exit round trips, measured inside one guest exactly as
 * Metronome's guest/workloads/vmexit.cpp measures them (guest.S has the loops): the TSC around N
 * iterations (default 1000) of an exiting instruction, 8 repetitions, best and worst kept, and
 * the same loop around NOP. Prints one line per loop in vmexit.cpp's format, which
 * tools/metronome_tool/bench.py already parses:
 *
 *   vmexit: KIND n=N reps=8 best=TICKS worst=TICKS
 *
 * KIND: nop; cpuid (leaf 0, answered by KVM in the kernel from the table KVM_SET_CPUID2 gave
 * it); vmcall (hypercall number 0x7fff: KVM answers -KVM_ENOSYS in the kernel); inb_kernel
 * (port 0x21, the in-kernel 8259's mask register: KVM_CREATE_IRQCHIP answers it without leaving
 * the kernel); inb_user (port 0x80: no device in KVM, so every read exits to this program,
 * which answers 0xFF and calls KVM_RUN again, as QEMU would); rdmsr (IA32_APIC_BASE, which KVM
 * intercepts and answers from its in-kernel local APIC: a value, no #GP, so its baseline is
 * the NOP loop, where Metronome's is a #GP taken natively because Metronome answers #GP).
 * Then one PEER-KVM-VMEXIT {json} line: the reads answered here, KVM's own counters over the
 * loops, and how long a VM takes to start (the median of 5).
 */
#include "guest_layout.h"
#include "host_stats.h"
#include "kvm_stats.h"
#include "kvm_vm.h"
#include "peer_cmds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SETUP_SAMPLES 5

static int compare_u64(const void* a, const void* b) {
    const uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
    return x < y ? -1 : x > y;
}

/* What it takes to start a VM, over SETUP_SAMPLES VMs started one after the other (medians):
 * the creating thread's CPU time from KVM_CREATE_VM until KVM_RUN returns (the guest's first
 * instructions end it at once), and the elapsed TSC from KVM_CREATE_VM to the guest's first
 * instruction, which also holds the time KVM waits (memory-slot updates wait for an SRCU grace
 * period, which the timer tick ends). */
struct setup_cost {
    uint64_t cpu_ns, elapsed_tsc;
};

static struct setup_cost median_setup(void) {
    uint64_t cpu[SETUP_SAMPLES], elapsed[SETUP_SAMPLES];
    for (int i = 0; i < SETUP_SAMPLES; ++i) {
        struct vm_options options = {.workload = WORKLOAD_NONE, .hlt_exits = 1};
        struct peer_vm vm;
        const uint64_t cpu_start = thread_cpu_ns();
        const uint64_t start = host_tsc();
        vm_create(&vm, "setup", &options);
        struct run_result result;
        vm_run(&vm, &result);
        cpu[i] = thread_cpu_ns() - cpu_start;
        if (result.end != RUN_DONE || result.status != DONE_OK) {
            errno = 0;
            fail("vmexit: the setup guest stopped with status 0x%x", result.status);
        }
        elapsed[i] = *vm_mailbox(&vm, MB_FIRST_TSC) - start;
        vm_destroy(&vm);
    }
    qsort(cpu, SETUP_SAMPLES, sizeof cpu[0], compare_u64);
    qsort(elapsed, SETUP_SAMPLES, sizeof elapsed[0], compare_u64);
    return (struct setup_cost){cpu[SETUP_SAMPLES / 2], elapsed[SETUP_SAMPLES / 2]};
}

static const char* const loop_names[LOOP_COUNT] = {"nop",        "cpuid",    "vmcall",
                                                   "inb_kernel", "inb_user", "rdmsr"};

int vmexit_command(int argc, char** argv) {
    uint64_t iterations = 1000;
    for (int i = 0; i < argc; ++i) {
        if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc)
            iterations = strtoull(argv[++i], NULL, 0);
        else {
            errno = 0;
            fail("vmexit: unknown argument '%s' (--iterations N)", argv[i]);
        }
    }
    if (iterations == 0) {
        errno = 0;
        fail("vmexit: --iterations must be at least 1");
    }
    struct vm_options options = {.workload = WORKLOAD_VMEXIT, .hlt_exits = 1,
                                 .param = iterations};
    const struct setup_cost setup = median_setup();
    struct peer_vm vm;
    vm_create(&vm, "vmexit", &options);
    struct vcpu_stats before, after;
    vcpu_stats_open(&before, vm.vcpu_fd, vm.name);
    vcpu_stats_read(&before);
    after = before;
    struct run_result result;
    vm_run(&vm, &result);
    vcpu_stats_read(&after);
    if (result.end != RUN_DONE || result.status != DONE_OK) {
        errno = 0;
        fail("vmexit: the guest stopped with %s, status 0x%x (vector %llu)",
             result.end == RUN_SHUTDOWN ? "a shutdown" : "DONE", result.status,
             (unsigned long long)*vm_mailbox(&vm, MB_VECTOR));
    }
    const uint64_t expected_user_exits = LOOP_REPETITIONS * iterations;
    if (result.user_exits != expected_user_exits) {
        errno = 0;
        fail("vmexit: %llu reads of port 0x%x reached this program, expected %llu",
             (unsigned long long)result.user_exits, PORT_USER,
             (unsigned long long)expected_user_exits);
    }
    for (unsigned k = 0; k < LOOP_COUNT; ++k)
        printf("vmexit: %s n=%llu reps=%d best=%llu worst=%llu\n", loop_names[k],
               (unsigned long long)iterations, LOOP_REPETITIONS,
               (unsigned long long)*vm_mailbox(&vm, MB_LOOPS + 16 * k),
               (unsigned long long)*vm_mailbox(&vm, MB_LOOPS + 16 * k + 8));
    /* KVM_CREATE_VM to the guest's first instruction: what it takes KVM (and this program's
     * ioctls) to start one VM, the counterpart of Metronome's session setup. */
    printf("PEER-KVM-VMEXIT {\"user_exits\":%llu,\"setup_cpu_ns\":%llu,"
           "\"create_to_first_instruction_tsc\":%llu,\"setup_samples\":%d,\"kvm\":{",
           (unsigned long long)result.user_exits, (unsigned long long)setup.cpu_ns,
           (unsigned long long)setup.elapsed_tsc, SETUP_SAMPLES);
    vcpu_stats_print_delta(&before, &after);
    printf("}}\n");
    fflush(stdout);
    vm_destroy(&vm);
    return 0;
}
