/* host_stats.h: /proc and /sys/fs/cgroup, read and written with plain file I/O. */
#define _GNU_SOURCE
#include "host_stats.h"

#include "kvm_vm.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CGROUP_ROOT "/sys/fs/cgroup"

static size_t read_text(const char* path, char* buffer, size_t size) {
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("open %s", path);
    const ssize_t n = read(fd, buffer, size - 1);
    if (n < 0) fail("read %s", path);
    close(fd);
    buffer[n] = 0;
    return (size_t)n;
}

static void write_text(const char* path, const char* text) {
    const int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail("open %s for writing", path);
    const size_t length = strlen(text);
    if (write(fd, text, length) != (ssize_t)length) fail("write '%s' to %s", text, path);
    close(fd);
}

void read_schedstat(pid_t tid, struct schedstat* out) {
    char path[64], text[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", (int)tid);
    read_text(path, text, sizeof text);
    unsigned long long exec, delay, slices;
    if (sscanf(text, "%llu %llu %llu", &exec, &delay, &slices) != 3) {
        errno = 0;
        fail("%s: cannot read '%s'", path, text);
    }
    out->exec_ns = exec;
    out->run_delay_ns = delay;
    out->timeslices = slices;
}

uint64_t cpu_busy_ns(void) {
    static char text[16384];
    read_text("/proc/schedstat", text, sizeof text);
    const char* line = strstr(text, "\ncpu0 ");
    unsigned long long f[7];
    if (line == NULL ||
        sscanf(line + 1, "cpu0 %llu %llu %llu %llu %llu %llu %llu", &f[0], &f[1], &f[2], &f[3],
               &f[4], &f[5], &f[6]) != 7) {
        errno = 0;
        fail("/proc/schedstat has no cpu0 line with rq_cpu_time");
    }
    return f[6];
}

uint64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t thread_cpu_ns(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0) fail("clock_gettime(thread CPU time)");
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sleep_until_ns(uint64_t deadline) {
    const struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000ull),
                                .tv_nsec = (long)(deadline % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

pid_t current_tid(void) {
    return (pid_t)syscall(SYS_gettid);
}

void pin_to_cpu0(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0) fail("sched_setaffinity(CPU 0)");
}

void cgroup_cap(const char* name, unsigned quota_us, unsigned period_us) {
    static int cpu_enabled;
    if (!cpu_enabled) {
        write_text(CGROUP_ROOT "/cgroup.subtree_control", "+cpu");
        cpu_enabled = 1;
    }
    char path[256], text[64];
    snprintf(path, sizeof path, CGROUP_ROOT "/%s", name);
    if (mkdir(path, 0755) < 0 && errno != EEXIST) fail("mkdir %s", path);
    snprintf(path, sizeof path, CGROUP_ROOT "/%s/cgroup.type", name);
    write_text(path, "threaded");
    snprintf(path, sizeof path, CGROUP_ROOT "/%s/cpu.max", name);
    snprintf(text, sizeof text, "%u %u", quota_us, period_us);
    write_text(path, text);
}

void cgroup_add_thread(const char* name, pid_t tid) {
    char path[256], text[32];
    snprintf(path, sizeof path, CGROUP_ROOT "/%s/cgroup.threads", name);
    snprintf(text, sizeof text, "%d", (int)tid);
    write_text(path, text);
}

void cgroup_remove(const char* name) {
    char path[256];
    snprintf(path, sizeof path, CGROUP_ROOT "/%s", name);
    /* A thread that pthread_join has seen exit can still be leaving its cgroup: the cgroup
     * stays busy for a moment. A cgroup left behind harms nothing in this throwaway system. */
    for (int attempt = 0; attempt < 100; ++attempt) {
        if (rmdir(path) == 0) return;
        if (errno != EBUSY) fail("rmdir %s", path);
        usleep(10000);
    }
    fprintf(stderr, "PEER-KVM-WARNING rmdir %s: still busy after 1 s; left in place\n", path);
}
