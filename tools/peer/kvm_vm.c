/* Building and running one peer VM (kvm_vm.h). The guest's initial state is long mode with
 * paging, written by hand: page tables, GDT with a TSS, IDT, then KVM_SET_SREGS/KVM_SET_REGS,
 * the way kvm-unit-tests and QEMU's -kernel path leave a 64-bit guest, without firmware. */
#include "kvm_vm.h"

#include "guest_layout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* guest.S */
extern const uint8_t peer_guest_start[], peer_guest_end[], peer_guest_entry[];
extern const uint8_t peer_guest_tick[], peer_guest_vectors[];

#define VECTOR_STUB_SIZE 16
#define PTE_PRESENT_WRITABLE 0x3ull
#define PTE_UNCACHED 0x18ull /* PWT | PCD: the APIC page */
#define PDE_LARGE 0x80ull
#define CR0_PE 0x1ull
#define CR0_MP 0x2ull
#define CR0_ET 0x10ull
#define CR0_NE 0x20ull
#define CR0_WP 0x10000ull
#define CR0_PG 0x80000000ull
#define CR4_PAE 0x20ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull
#define RFLAGS_RESERVED 0x2ull
#define RFLAGS_IF 0x200ull
#define TSS_LIMIT 0x67
#define TSS_IOMAP_NONE 0x68

void fail(const char* what, ...) {
    const int saved = errno;
    char text[512];
    va_list args;
    va_start(args, what);
    vsnprintf(text, sizeof text, what, args);
    va_end(args);
    if (saved != 0)
        fprintf(stderr, "PEER-KVM-ERROR kvm-peer: %s: %s\n", text, strerror(saved));
    else
        fprintf(stderr, "PEER-KVM-ERROR kvm-peer: %s\n", text);
    fflush(stderr);
    exit(1);
}

static int check(int result, const char* what, const char* vm) {
    if (result < 0) fail("%s (VM %s)", what, vm);
    return result;
}

int kvm_device(void) {
    static int fd = -1;
    if (fd >= 0) return fd;
    fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) fail("open /dev/kvm (is kvm_intel loaded?)");
    const int version = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        errno = 0;
        fail("KVM API version %d, expected %d", version, KVM_API_VERSION);
    }
    static const struct {
        int cap;
        const char* name;
    } needed[] = {{KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP (the in-kernel PIC/IOAPIC/LAPIC)"},
                  {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
                  {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
                  {KVM_CAP_VCPU_ATTRIBUTES, "KVM_CAP_VCPU_ATTRIBUTES (the TSC offset)"}};
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; ++i)
        if (ioctl(fd, KVM_CHECK_EXTENSION, needed[i].cap) <= 0) {
            errno = 0;
            fail("this KVM lacks %s", needed[i].name);
        }
    return fd;
}

/* KVM_GET_SUPPORTED_CPUID, once: what QEMU's `-cpu host` would give the guest. */
static struct kvm_cpuid2* supported_cpuid(void) {
    static struct kvm_cpuid2* cpuid;
    if (cpuid != NULL) return cpuid;
    const unsigned max_entries = 256;
    cpuid = calloc(1, sizeof *cpuid + max_entries * sizeof cpuid->entries[0]);
    if (cpuid == NULL) fail("out of memory");
    cpuid->nent = max_entries;
    if (ioctl(kvm_device(), KVM_GET_SUPPORTED_CPUID, cpuid) < 0)
        fail("KVM_GET_SUPPORTED_CPUID");
    return cpuid;
}

static uint64_t guest_address(const uint8_t* symbol) {
    return GUEST_CODE + (uint64_t)(symbol - peer_guest_start);
}

static void write_u64(uint8_t* memory, uint64_t gpa, uint64_t value) {
    memcpy(memory + gpa, &value, sizeof value);
}

static void write_memory(uint8_t* memory, const struct vm_options* o) {
    write_u64(memory, GUEST_PML4, GUEST_PDPT | PTE_PRESENT_WRITABLE);
    write_u64(memory, GUEST_PDPT, GUEST_PD_LOW | PTE_PRESENT_WRITABLE);
    write_u64(memory, GUEST_PDPT + 3 * 8, GUEST_PD_HIGH | PTE_PRESENT_WRITABLE);
    write_u64(memory, GUEST_PD_LOW, 0 | PTE_PRESENT_WRITABLE | PDE_LARGE);
    const uint64_t apic_index = (LAPIC_BASE >> 21) & 511;
    write_u64(memory, GUEST_PD_HIGH + apic_index * 8,
              LAPIC_BASE | PTE_PRESENT_WRITABLE | PTE_UNCACHED | PDE_LARGE);

    write_u64(memory, GUEST_GDT + 0x08, 0x00AF9B000000FFFFull); /* 64-bit code, DPL 0 */
    write_u64(memory, GUEST_GDT + 0x10, 0x00CF93000000FFFFull); /* data, DPL 0 */
    const uint64_t tss = GUEST_TSS;
    write_u64(memory, GUEST_GDT + 0x18,
              TSS_LIMIT | (tss & 0xFFFFFF) << 16 | 0x8Bull << 40 | (tss >> 24 & 0xFF) << 56);
    write_u64(memory, GUEST_GDT + 0x20, tss >> 32);
    const uint16_t iomap = TSS_IOMAP_NONE;
    memcpy(memory + GUEST_TSS + 0x66, &iomap, sizeof iomap);

    for (uint64_t v = 0; v < 256; ++v) {
        const uint64_t handler = v == TICK_VECTOR
                                     ? guest_address(peer_guest_tick)
                                     : guest_address(peer_guest_vectors) + v * VECTOR_STUB_SIZE;
        /* 64-bit interrupt gate: present, DPL 0, type 0xE. */
        const uint64_t low = (handler & 0xFFFF) | (uint64_t)GUEST_CODE_SELECTOR << 16 |
                             0x8Eull << 40 | (handler >> 16 & 0xFFFF) << 48;
        write_u64(memory, GUEST_IDT + v * 16, low);
        write_u64(memory, GUEST_IDT + v * 16 + 8, handler >> 32);
    }

    const size_t code_size = (size_t)(peer_guest_end - peer_guest_start);
    if (code_size > GUEST_CODE_MAX) {
        errno = 0;
        fail("the guest code is %zu bytes, more than the %d reserved", code_size, GUEST_CODE_MAX);
    }
    memcpy(memory + GUEST_CODE, peer_guest_start, code_size);

    write_u64(memory, GUEST_MAILBOX + MB_WORKLOAD, (uint64_t)o->workload);
    write_u64(memory, GUEST_MAILBOX + MB_PARAM, o->param);
    write_u64(memory, GUEST_MAILBOX + MB_TIMER_COUNT, o->timer_count);
    write_u64(memory, GUEST_MAILBOX + MB_BURST_TSC, o->burst_tsc);
    write_u64(memory, GUEST_MAILBOX + MB_DIE_TICKS, o->die_ticks);
    write_u64(memory, GUEST_MAILBOX + MB_GAP_THRESHOLD, o->gap_threshold);
}

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, int code) {
    struct kvm_segment s = {0};
    s.base = 0;
    s.limit = 0xFFFFFFFF;
    s.selector = selector;
    s.type = type;
    s.present = 1;
    s.s = 1;
    s.l = code ? 1 : 0;
    s.db = code ? 0 : 1;
    s.g = 1;
    return s;
}

static void set_long_mode(struct peer_vm* vm) {
    struct kvm_sregs sregs;
    check(ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs), "KVM_GET_SREGS", vm->name);
    sregs.cs = flat_segment(GUEST_CODE_SELECTOR, 0xB, 1);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss =
        flat_segment(GUEST_DATA_SELECTOR, 0x3, 0);
    memset(&sregs.tr, 0, sizeof sregs.tr);
    sregs.tr.base = GUEST_TSS;
    sregs.tr.limit = TSS_LIMIT;
    sregs.tr.selector = GUEST_TSS_SELECTOR;
    sregs.tr.type = 0xB; /* busy 64-bit TSS: VM entry checks it */
    sregs.tr.present = 1;
    memset(&sregs.ldt, 0, sizeof sregs.ldt);
    sregs.ldt.type = 0x2;
    sregs.ldt.unusable = 1;
    sregs.gdt.base = GUEST_GDT;
    sregs.gdt.limit = 0x27;
    sregs.idt.base = GUEST_IDT;
    sregs.idt.limit = 256 * 16 - 1;
    sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
    sregs.cr3 = GUEST_PML4;
    sregs.cr4 = CR4_PAE;
    sregs.efer = EFER_LME | EFER_LMA;
    check(ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs), "KVM_SET_SREGS", vm->name);

    struct kvm_regs regs = {0};
    regs.rip = guest_address(peer_guest_entry);
    regs.rsp = GUEST_STACK_TOP;
    regs.rflags = RFLAGS_RESERVED | RFLAGS_IF;
    check(ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs), "KVM_SET_REGS", vm->name);
}

/* The guests' TSC = the host's, so the gaps the spinners record line up across VMs and with
 * the host's own rdtsc (KVM_VCPU_TSC_OFFSET: guest TSC = host TSC + offset). */
static void zero_tsc_offset(struct peer_vm* vm) {
    uint64_t offset = 0;
    struct kvm_device_attr attr = {.group = KVM_VCPU_TSC_CTRL,
                                   .attr = KVM_VCPU_TSC_OFFSET,
                                   .addr = (uint64_t)(uintptr_t)&offset};
    check(ioctl(vm->vcpu_fd, KVM_HAS_DEVICE_ATTR, &attr), "KVM_HAS_DEVICE_ATTR(TSC offset)",
          vm->name);
    check(ioctl(vm->vcpu_fd, KVM_SET_DEVICE_ATTR, &attr), "KVM_SET_DEVICE_ATTR(TSC offset)",
          vm->name);
}

void vm_create(struct peer_vm* vm, const char* name, const struct vm_options* o) {
    memset(vm, 0, sizeof *vm);
    snprintf(vm->name, sizeof vm->name, "%s", name);
    const int kvm = kvm_device();
    vm->vm_fd = check(ioctl(kvm, KVM_CREATE_VM, 0), "KVM_CREATE_VM", name);
    /* Intel needs a TSS region for real mode; unused in long mode, but KVM wants it set. */
    check(ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xFFFBD000ul), "KVM_SET_TSS_ADDR", name);
    check(ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0), "KVM_CREATE_IRQCHIP", name);
    if (!o->hlt_exits) {
        const int exits = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_X86_DISABLE_EXITS);
        if (exits < 0 || !(exits & KVM_X86_DISABLE_EXITS_HLT)) {
            errno = 0;
            fail("KVM_CAP_X86_DISABLE_EXITS does not offer HLT here (%d)", exits);
        }
        /* Must come before the first vCPU exists. */
        struct kvm_enable_cap cap = {.cap = KVM_CAP_X86_DISABLE_EXITS,
                                     .args = {KVM_X86_DISABLE_EXITS_HLT}};
        check(ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap), "KVM_ENABLE_CAP(X86_DISABLE_EXITS, HLT)",
              name);
    }

    void* memory = mmap(NULL, GUEST_MEMORY_SIZE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (memory == MAP_FAILED) fail("mmap of %d bytes of guest memory (VM %s)", GUEST_MEMORY_SIZE, name);
    vm->memory = memory;
    struct kvm_userspace_memory_region region = {
        .slot = 0,
        .guest_phys_addr = 0,
        .memory_size = GUEST_MEMORY_SIZE,
        .userspace_addr = (uint64_t)(uintptr_t)memory};
    check(ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region), "KVM_SET_USER_MEMORY_REGION",
          name);
    write_memory(vm->memory, o);

    vm->vcpu_fd = check(ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0), "KVM_CREATE_VCPU", name);
    const int run_size = check(ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), "KVM_GET_VCPU_MMAP_SIZE",
                               name);
    vm->run_size = (size_t)run_size;
    void* run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
    if (run == MAP_FAILED) fail("mmap of kvm_run (VM %s)", name);
    vm->run = run;
    check(ioctl(vm->vcpu_fd, KVM_SET_CPUID2, supported_cpuid()), "KVM_SET_CPUID2", name);
    set_long_mode(vm);
    zero_tsc_offset(vm);
}

void vm_destroy(struct peer_vm* vm) {
    munmap(vm->run, vm->run_size);
    close(vm->vcpu_fd);
    close(vm->vm_fd);
    munmap(vm->memory, GUEST_MEMORY_SIZE);
}

volatile uint64_t* vm_mailbox(struct peer_vm* vm, unsigned offset) {
    return (volatile uint64_t*)(vm->memory + GUEST_MAILBOX + offset);
}

static const char* exit_name(uint32_t reason) {
    switch (reason) {
    case KVM_EXIT_UNKNOWN: return "KVM_EXIT_UNKNOWN";
    case KVM_EXIT_EXCEPTION: return "KVM_EXIT_EXCEPTION";
    case KVM_EXIT_HLT: return "KVM_EXIT_HLT";
    case KVM_EXIT_MMIO: return "KVM_EXIT_MMIO";
    case KVM_EXIT_IRQ_WINDOW_OPEN: return "KVM_EXIT_IRQ_WINDOW_OPEN";
    case KVM_EXIT_DEBUG: return "KVM_EXIT_DEBUG";
    default: return "an exit reason this program does not handle";
    }
}

void vm_run(struct peer_vm* vm, struct run_result* result) {
    memset(result, 0, sizeof *result);
    struct kvm_run* run = vm->run;
    for (;;) {
        if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            fail("KVM_RUN (VM %s)", vm->name);
        }
        uint8_t* data = (uint8_t*)run + run->io.data_offset;
        switch (run->exit_reason) {
        case KVM_EXIT_IO:
            if (run->io.port == PORT_USER && run->io.direction == KVM_EXIT_IO_IN) {
                memset(data, 0xFF, (size_t)run->io.size * run->io.count); /* no device */
                ++result->user_exits;
                continue;
            }
            if (run->io.port == PORT_DONE && run->io.direction == KVM_EXIT_IO_OUT &&
                run->io.size == 4) {
                memcpy(&result->status, data, sizeof result->status);
                result->end = RUN_DONE;
                return;
            }
            errno = 0;
            fail("VM %s: unexpected %s of port 0x%x (size %u)", vm->name,
                 run->io.direction == KVM_EXIT_IO_IN ? "IN" : "OUT", run->io.port, run->io.size);
        case KVM_EXIT_SHUTDOWN:
            result->end = RUN_SHUTDOWN;
            return;
        case KVM_EXIT_FAIL_ENTRY:
            errno = 0;
            fail("VM %s: VM entry failed, hardware reason 0x%llx", vm->name,
                 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        case KVM_EXIT_INTERNAL_ERROR:
            errno = 0;
            fail("VM %s: KVM internal error, suberror %u", vm->name, run->internal.suberror);
        case KVM_EXIT_MMIO:
            errno = 0;
            fail("VM %s: MMIO %s at 0x%llx outside the guest's memory and the APIC", vm->name,
                 run->mmio.is_write ? "write" : "read", (unsigned long long)run->mmio.phys_addr);
        default:
            errno = 0;
            fail("VM %s: exit reason %u (%s)", vm->name, run->exit_reason,
                 exit_name(run->exit_reason));
        }
    }
}
