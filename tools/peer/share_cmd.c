/* `kvm-peer share --label L --window-ms MS [--gap-threshold T] VM...`: several single-vCPU VMs
 * as threads of this one process, each pinned to CPU 0, scheduled by CFS; after the window,
 * one line
 *
 *   PEER-KVM-SHARE {json}
 *
 * with each thread's CPU time over the window (/proc/self/task/TID/schedstat), what its guest
 * counted (progress, timer interrupts handled), when a guest died, the gaps each spinner saw in
 * its own TSC (the time the CPU was elsewhere: the host tool turns them into switch costs), and
 * the CPU's busy time (/proc/schedstat). Figures are computed by tools/metronome_tool/peer_kvm.py.
 *
 * VM: NAME:WORKLOAD[:KEY=VALUE...], WORKLOAD spin | idle | bursty | crash; keys:
 *   hz=N        LAPIC timer ticks per second (idle, bursty, crash)
 *   rounds=N    idle: rounds of work per tick (default 2000)
 *   percent=N   bursty: work for N% of each tick period (default 5)
 *   ticks=N     crash: triple-fault after N ticks (default 2)
 *   hlt=exit|native   native: KVM_CAP_X86_DISABLE_EXITS(HLT) for this VM (HLT stays in the guest)
 *   cap=Q/P     a CFS bandwidth cap: Q us of every P us (cpu.max of the threaded cgroup
 *               /sys/fs/cgroup/LABEL-NAME)
 */
#define _GNU_SOURCE
#include "guest_layout.h"
#include "host_stats.h"
#include "kvm_stats.h"
#include "kvm_vm.h"
#include "peer_cmds.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define MAX_VMS 64

struct vm_spec {
    char name[24];
    const char* workload_name;
    int workload;
    unsigned hz;
    uint64_t rounds, percent, die_ticks;
    int hlt_exits;
    unsigned cap_quota_us, cap_period_us;
};

struct vm_thread {
    struct vm_spec spec;
    char cgroup[64]; /* LABEL-NAME, when capped */
    struct peer_vm vm;
    pthread_t thread;
    pid_t tid;
    struct run_result result;
    int ended;
    uint64_t end_ns, end_tsc;
    struct schedstat before, after;
    uint64_t progress_before, progress_after, ticks_before, ticks_after;
    struct vcpu_stats kvm_before, kvm_after;
};

/* The start line and the finish line: every thread waits until all are ready, the window
 * starts when they are released, and no thread leaves (taking its /proc/self/task entry with
 * it) before the window's figures are read. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int ready, go, figures_read;

static int valid_name(const char* s) {
    if (*s == 0) return 0;
    for (; *s; ++s)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static void bad_spec(const char* spec, const char* why) {
    errno = 0;
    fail("share: VM '%s': %s (NAME:WORKLOAD[:KEY=VALUE...])", spec, why);
}

static void parse_spec(const char* text, struct vm_spec* s) {
    char copy[256];
    snprintf(copy, sizeof copy, "%s", text);
    memset(s, 0, sizeof *s);
    s->hlt_exits = 1;
    s->rounds = 2000;
    s->percent = 5;
    s->die_ticks = 2;
    char* save = NULL;
    const char* name = strtok_r(copy, ":", &save);
    const char* workload = strtok_r(NULL, ":", &save);
    if (name == NULL || workload == NULL) bad_spec(text, "no workload");
    if (!valid_name(name) || strlen(name) >= sizeof s->name) bad_spec(text, "bad name");
    snprintf(s->name, sizeof s->name, "%s", name);
    static const struct {
        const char* name;
        int workload;
    } workloads[] = {{"spin", WORKLOAD_SPIN},
                     {"idle", WORKLOAD_IDLE},
                     {"bursty", WORKLOAD_BURSTY},
                     {"crash", WORKLOAD_CRASH}};
    for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; ++i)
        if (strcmp(workload, workloads[i].name) == 0) {
            s->workload = workloads[i].workload;
            s->workload_name = workloads[i].name;
        }
    if (s->workload == 0) bad_spec(text, "unknown workload (spin, idle, bursty, crash)");
    for (char* kv; (kv = strtok_r(NULL, ":", &save)) != NULL;) {
        char* eq = strchr(kv, '=');
        if (eq == NULL) bad_spec(text, "a key without =VALUE");
        *eq = 0;
        const char* v = eq + 1;
        if (strcmp(kv, "hz") == 0)
            s->hz = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(kv, "rounds") == 0)
            s->rounds = strtoull(v, NULL, 10);
        else if (strcmp(kv, "percent") == 0)
            s->percent = strtoull(v, NULL, 10);
        else if (strcmp(kv, "ticks") == 0)
            s->die_ticks = strtoull(v, NULL, 10);
        else if (strcmp(kv, "hlt") == 0 && (strcmp(v, "exit") == 0 || strcmp(v, "native") == 0))
            s->hlt_exits = strcmp(v, "exit") == 0;
        else if (strcmp(kv, "cap") == 0) {
            if (sscanf(v, "%u/%u", &s->cap_quota_us, &s->cap_period_us) != 2 ||
                s->cap_quota_us == 0 || s->cap_period_us == 0)
                bad_spec(text, "cap=QUOTA_US/PERIOD_US");
        } else
            bad_spec(text, "unknown key or value");
    }
    if (s->workload != WORKLOAD_SPIN && (s->hz == 0 || s->hz > 10000))
        bad_spec(text, "this workload needs hz=1..10000");
    if (s->percent > 100) bad_spec(text, "percent is at most 100");
}

static void create_vm(struct vm_thread* t, uint64_t gap_threshold) {
    const struct vm_spec* s = &t->spec;
    struct vm_options o = {.workload = s->workload,
                           .hlt_exits = s->hlt_exits,
                           .param = s->rounds,
                           .timer_count = s->hz ? 1000000000ull / s->hz : 0,
                           .die_ticks = s->die_ticks,
                           .gap_threshold = gap_threshold};
    vm_create(&t->vm, s->name, &o);
    vcpu_stats_open(&t->kvm_before, t->vm.vcpu_fd, s->name);
    t->kvm_after = t->kvm_before;
    if (s->workload == WORKLOAD_BURSTY) {
        /* The guest TSC runs at the host's; KVM says how fast that is. */
        const int khz = ioctl(t->vm.vcpu_fd, KVM_GET_TSC_KHZ, 0);
        if (khz <= 0) fail("KVM_GET_TSC_KHZ (VM %s)", s->name);
        *vm_mailbox(&t->vm, MB_BURST_TSC) = (uint64_t)khz * 1000 / s->hz * s->percent / 100;
    }
}

static void* vcpu_thread(void* arg) {
    struct vm_thread* t = arg;
    t->tid = current_tid();
    pin_to_cpu0();
    if (t->spec.cap_quota_us) cgroup_add_thread(t->cgroup, t->tid);
    pthread_mutex_lock(&lock);
    ++ready;
    pthread_cond_broadcast(&changed);
    while (!go)
        pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);

    vm_run(&t->vm, &t->result);
    t->end_tsc = host_tsc();
    t->end_ns = monotonic_ns();
    t->ended = 1;

    pthread_mutex_lock(&lock);
    while (!figures_read)
        pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void print_vm(struct vm_thread* t, uint64_t t0_ns, uint64_t tsc0, uint64_t tsc1,
                     int last) {
    const struct vm_spec* s = &t->spec;
    const char* end = !t->ended                     ? "running"
                      : t->result.end == RUN_DONE ? "done"
                                                  : "shutdown";
    printf("{\"name\":\"%s\",\"workload\":\"%s\",\"hz\":%u,\"hlt_exits\":%s,", s->name,
           s->workload_name, s->hz, s->hlt_exits ? "true" : "false");
    if (s->cap_quota_us)
        printf("\"cap_quota_us\":%u,\"cap_period_us\":%u,", s->cap_quota_us, s->cap_period_us);
    printf("\"tid\":%d,\"exec_ns\":%llu,\"run_delay_ns\":%llu,\"timeslices\":%llu,", (int)t->tid,
           (unsigned long long)(t->after.exec_ns - t->before.exec_ns),
           (unsigned long long)(t->after.run_delay_ns - t->before.run_delay_ns),
           (unsigned long long)(t->after.timeslices - t->before.timeslices));
    printf("\"progress\":%llu,\"ticks\":%llu,\"end\":\"%s\",\"status\":%u,",
           (unsigned long long)(t->progress_after - t->progress_before),
           (unsigned long long)(t->ticks_after - t->ticks_before), end, t->result.status);
    if (t->ended && t->end_ns > t0_ns && t->end_tsc < tsc1)
        printf("\"end_ns\":%llu,\"end_tsc\":%llu,", (unsigned long long)(t->end_ns - t0_ns),
               (unsigned long long)(t->end_tsc - tsc0));
    struct peer_vm* vm = &t->vm;
    /* The guest's first instruction and the TSC it read when it saw STOP (0: not yet). */
    const uint64_t first_tsc = *vm_mailbox(vm, MB_FIRST_TSC);
    const uint64_t last_tsc = *vm_mailbox(vm, MB_LAST_TSC);
    if (first_tsc != 0) printf("\"first_tsc\":%lld,", (long long)(first_tsc - tsc0));
    if (last_tsc != 0) printf("\"last_tsc\":%lld,", (long long)(last_tsc - tsc0));
    printf("\"kvm\":{");
    vcpu_stats_print_delta(&t->kvm_before, &t->kvm_after);
    printf("},");
    const uint64_t count = *vm_mailbox(vm, MB_GAP_COUNT);
    printf("\"gaps_lost\":%llu,\"gaps\":[", (unsigned long long)*vm_mailbox(vm, MB_GAP_LOST));
    /* The gaps inside the window, relative to its first TSC: [TSC before, TSC after]. */
    int first = 1;
    for (uint64_t i = 0; i < count && i < GUEST_GAPS_MAX; ++i) {
        uint64_t pair[2];
        memcpy(pair, vm->memory + GUEST_GAPS + 16 * i, sizeof pair);
        if (pair[1] <= tsc0 || pair[0] >= tsc1) continue;
        printf("%s[%lld,%lld]", first ? "" : ",", (long long)(pair[0] - tsc0),
               (long long)(pair[1] - tsc0));
        first = 0;
    }
    printf("]}%s", last ? "" : ",");
}

int share_command(int argc, char** argv) {
    const char* label = "share";
    uint64_t window_ms = 300, gap_threshold = 100;
    static struct vm_thread threads[MAX_VMS];
    int n = 0;
    for (int i = 0; i < argc; ++i) {
        if (strcmp(argv[i], "--label") == 0 && i + 1 < argc)
            label = argv[++i];
        else if (strcmp(argv[i], "--window-ms") == 0 && i + 1 < argc)
            window_ms = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--gap-threshold") == 0 && i + 1 < argc)
            gap_threshold = strtoull(argv[++i], NULL, 10);
        else if (argv[i][0] == '-') {
            errno = 0;
            fail("share: unknown option '%s'", argv[i]);
        } else {
            if (n == MAX_VMS) {
                errno = 0;
                fail("share: at most %d VMs", MAX_VMS);
            }
            parse_spec(argv[i], &threads[n++].spec);
        }
    }
    if (n == 0 || window_ms == 0 || !valid_name(label) || strlen(label) > 32) {
        errno = 0;
        fail("share: needs --label NAME (at most 32 characters), --window-ms MS > 0 and a VM");
    }
    pin_to_cpu0();
    const uint64_t create_start = host_tsc(), create_cpu_start = thread_cpu_ns();
    for (int i = 0; i < n; ++i) {
        create_vm(&threads[i], gap_threshold);
        if (threads[i].spec.cap_quota_us) {
            snprintf(threads[i].cgroup, sizeof threads[i].cgroup, "%.32s-%.23s", label,
                     threads[i].spec.name);
            cgroup_cap(threads[i].cgroup, threads[i].spec.cap_quota_us,
                       threads[i].spec.cap_period_us);
        }
    }
    const uint64_t create_tsc = host_tsc() - create_start;
    const uint64_t create_cpu_ns = thread_cpu_ns() - create_cpu_start;
    for (int i = 0; i < n; ++i) {
        errno = pthread_create(&threads[i].thread, NULL, vcpu_thread, &threads[i]);
        if (errno != 0) fail("pthread_create (VM %s)", threads[i].spec.name);
    }

    /* Every thread is blocked on the start line: their counters hold still while read. */
    pthread_mutex_lock(&lock);
    while (ready < n)
        pthread_cond_wait(&changed, &lock);
    for (int i = 0; i < n; ++i) {
        read_schedstat(threads[i].tid, &threads[i].before);
        threads[i].progress_before = *vm_mailbox(&threads[i].vm, MB_PROGRESS);
        threads[i].ticks_before = *vm_mailbox(&threads[i].vm, MB_TICKS);
        vcpu_stats_read(&threads[i].kvm_before);
    }
    const uint64_t busy0 = cpu_busy_ns();
    const uint64_t t0 = monotonic_ns();
    const uint64_t tsc0 = host_tsc();
    go = 1;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);

    sleep_until_ns(t0 + window_ms * 1000000ull);

    const uint64_t tsc1 = host_tsc();
    const uint64_t t1 = monotonic_ns();
    for (int i = 0; i < n; ++i) {
        read_schedstat(threads[i].tid, &threads[i].after);
        threads[i].progress_after = *vm_mailbox(&threads[i].vm, MB_PROGRESS);
        threads[i].ticks_after = *vm_mailbox(&threads[i].vm, MB_TICKS);
        vcpu_stats_read(&threads[i].kvm_after);
    }
    const uint64_t busy1 = cpu_busy_ns();
    for (int i = 0; i < n; ++i)
        *vm_mailbox(&threads[i].vm, MB_STOP) = 1;
    pthread_mutex_lock(&lock);
    figures_read = 1;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n; ++i) {
        errno = pthread_join(threads[i].thread, NULL);
        if (errno != 0) fail("pthread_join (VM %s)", threads[i].spec.name);
    }

    const int khz = ioctl(threads[0].vm.vcpu_fd, KVM_GET_TSC_KHZ, 0);
    printf("PEER-KVM-SHARE {\"label\":\"%s\",\"window_ns\":%llu,\"window_tsc\":%llu,"
           "\"tsc_khz\":%d,\"cpu_busy_ns\":%llu,\"gap_threshold\":%llu,\"create_tsc\":%llu,"
           "\"create_cpu_ns\":%llu,\"vms\":[",
           label, (unsigned long long)(t1 - t0), (unsigned long long)(tsc1 - tsc0), khz,
           (unsigned long long)(busy1 - busy0), (unsigned long long)gap_threshold,
           (unsigned long long)create_tsc, (unsigned long long)create_cpu_ns);
    for (int i = 0; i < n; ++i)
        print_vm(&threads[i], t0, tsc0, tsc1, i == n - 1);
    printf("]}\n");
    fflush(stdout);
    for (int i = 0; i < n; ++i) {
        if (threads[i].ended && threads[i].result.end == RUN_DONE &&
            threads[i].result.status != DONE_OK) {
            errno = 0;
            fail("share: VM %s stopped with status 0x%x (vector %llu)", threads[i].spec.name,
                 threads[i].result.status,
                 (unsigned long long)*vm_mailbox(&threads[i].vm, MB_VECTOR));
        }
        if (threads[i].spec.cap_quota_us) cgroup_remove(threads[i].cgroup);
        vm_destroy(&threads[i].vm);
    }
    return 0;
}
