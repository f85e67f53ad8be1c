/* What the host kernel says about CPU time: a thread's schedstat, the CPU's busy time, the
 * clock; and the cgroup v2 files for a CFS bandwidth cap. Failures end the program in words. */
#ifndef PEER_HOST_STATS_H
#define PEER_HOST_STATS_H

#include <stdint.h>
#include <sys/types.h>

/* /proc/self/task/TID/schedstat: time on the CPU, time waiting on a run queue (ns of the
 * scheduler clock) and the number of times the thread was put on the CPU. */
struct schedstat {
    uint64_t exec_ns;
    uint64_t run_delay_ns;
    uint64_t timeslices;
};

void read_schedstat(pid_t tid, struct schedstat* out);

/* /proc/schedstat, cpu0: rq_cpu_time, the time all tasks together ran on the CPU (ns). */
uint64_t cpu_busy_ns(void);

uint64_t monotonic_ns(void);
/* CPU time of the calling thread (ns): work, without the time it waited. */
uint64_t thread_cpu_ns(void);
void sleep_until_ns(uint64_t deadline);
pid_t current_tid(void);
void pin_to_cpu0(void);

/* A threaded cgroup /sys/fs/cgroup/NAME capped at quota_us of every period_us (cpu.max) under the
 * root cgroup, which becomes the threaded domain (so one process's threads can sit in
 * different cgroups); cgroup_add_thread moves a thread in, cgroup_remove deletes it after. */
void cgroup_cap(const char* name, unsigned quota_us, unsigned period_us);
void cgroup_add_thread(const char* name, pid_t tid);
void cgroup_remove(const char* name);

#endif
