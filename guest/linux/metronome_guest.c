/* metronome-guest: the project's own program inside a Linux guest's initramfs (tools/metronome_tool/
 * linux_image.py puts it at /bin/metronome-guest beside Debian's busybox). A static x86-64 Linux
 * executable with no C library: raw system calls, and VMCALL for Metronome's hypercalls, which
 * exit to the hypervisor from any privilege level (guest/ABI.md section 7, the README's Linux
 * section: a Linux guest may call `ready` and `powerdown` from user space).
 *
 *   metronome-guest ready          the workload starts now: the measurement window may open
 *   metronome-guest spin           CPU-bound, forever (a progress counter it never prints)
 *   metronome-guest idle HZ        wakes HZ times a second, works ~50 us, sleeps: the kernel
 *                                  idles in HLT in between (the thread's idle guest)
 *   metronome-guest sleep MS       sleeps MS milliseconds and prints the TSC ticks that passed
 *   metronome-guest tsc            prints the TSC
 *   metronome-guest powerdown CODE stops the guest with exit code CODE (after `sync`)
 */
#include <stdint.h>

#define SYS_write 1
#define SYS_nanosleep 35
#define SYS_exit 60
#define SYS_sync 162

/* Hypercall numbers: guest/runtime/abi.hpp (metronome::abi::Hypercall). */
#define HYPERCALL_POWERDOWN 1
#define HYPERCALL_READY 3

static long syscall3(long n, long a, long b, long c) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}

static uint64_t hypercall(uint64_t number, uint64_t arg) {
    uint64_t r = number;
    __asm__ volatile("vmcall" : "+a"(r) : "b"(arg) : "memory");
    return r;
}

static uint64_t rdtsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static unsigned long length(const char *s) {
    unsigned long n = 0;
    while (s[n] != 0) ++n;
    return n;
}

static void print(const char *s) { syscall3(SYS_write, 1, (long)s, (long)length(s)); }

static void print_u64(uint64_t v) {
    char buf[24];
    int i = 23;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    print(buf + i);
}

static uint64_t number(const char *s) {
    uint64_t v = 0;
    while (s != 0 && *s >= '0' && *s <= '9') v = v * 10 + (uint64_t)(*s++ - '0');
    return v;
}

static int same(const char *a, const char *b) {
    while (*a != 0 && *a == *b) ++a, ++b;
    return *a == *b;
}

struct timespec_ {
    long sec, nsec;
};

static void sleep_ns(uint64_t ns) {
    struct timespec_ t = {(long)(ns / 1000000000u), (long)(ns % 1000000000u)};
    syscall3(SYS_nanosleep, (long)&t, 0, 0);
}

static volatile uint64_t progress;

static void work(uint64_t iterations) {
    for (uint64_t i = 0; i < iterations; ++i) progress = progress + 1;
}

static int run(int argc, char **argv) {
    if (argc < 2) {
        print("usage: metronome-guest ready|spin|idle HZ|sleep MS|tsc|powerdown CODE\n");
        return 2;
    }
    const char *cmd = argv[1];
    if (same(cmd, "ready")) {
        hypercall(HYPERCALL_READY, 0);
        return 0;
    }
    if (same(cmd, "spin")) {
        for (;;) work(1u << 20);
    }
    if (same(cmd, "idle") && argc > 2) {
        const uint64_t hz = number(argv[2]);
        if (hz == 0) return 2;
        for (;;) {
            work(2000);
            sleep_ns(1000000000u / hz);
        }
    }
    if (same(cmd, "sleep") && argc > 2) {
        const uint64_t ms = number(argv[2]);
        const uint64_t t0 = rdtsc();
        sleep_ns(ms * 1000000u);
        const uint64_t t1 = rdtsc();
        print("metronome-guest: slept ");
        print_u64(ms);
        print(" ms in ");
        print_u64(t1 - t0);
        print(" TSC ticks\n");
        return 0;
    }
    if (same(cmd, "tsc")) {
        print_u64(rdtsc());
        print("\n");
        return 0;
    }
    if (same(cmd, "powerdown")) {
        syscall3(SYS_sync, 0, 0, 0);
        hypercall(HYPERCALL_POWERDOWN, argc > 2 ? number(argv[2]) : 0);
        return 1; /* not reached under Metronome */
    }
    print("metronome-guest: unknown command\n");
    return 2;
}

/* The entry: the kernel leaves argc at (%rsp), argv after it. */
__attribute__((used)) static void start_c(long *stack) {
    const int argc = (int)stack[0];
    char **argv = (char **)(stack + 1);
    syscall3(SYS_exit, run(argc, argv), 0, 0);
    for (;;) {
    }
}

__asm__(".globl _start\n"
        "_start:\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call start_c\n"
        "  hlt\n");
