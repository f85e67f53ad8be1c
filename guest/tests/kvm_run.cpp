// guest-kvm-run: runs one guest image on Linux KVM with the Metronome guest ABI (guest/ABI.md), so
// that guests can be tried without booting metronome.efi. A test harness and a reference for
// the ABI's initial state, not the hypervisor: one guest, no slices, a coarse timer.
//
// KVM keeps VMCALL to itself, so each VMCALL instruction in the image (found by its bytes,
// 0F 01 C1; at most four) gets a hardware breakpoint and the hypercall is emulated here.
//
// Usage: guest-kvm-run IMAGE.bin [--workload NAME] [--name NAME] [--param N] [--tick-hz N]
//          [--memory-mib N] [--ms N] [--inject-exception VECTOR@MS] [--bad-start-info]
// Prints the guest's console lines as "[name] text", then one line:
//   RESULT state=... code=... progress=... ticks_seen=... injected=... halted_ms=... ran_ms=...
// Exit status: 0 after a run, 2 for bad arguments, 77 when KVM is not usable (a CTest skip).
#include "runtime/abi.hpp"

#include <linux/kvm.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>
#include <vector>

namespace abi = metronome::abi;

namespace {

struct Options {
    std::string image_path;
    std::string workload = "spin";
    std::string name = "guest";
    std::uint64_t param = 0;
    std::uint32_t tick_hz = 0;
    std::uint64_t memory_mib = 2;
    std::uint64_t duration_ms = 500;
    bool bad_start_info = false;
    int inject_vector = -1;
    std::uint64_t inject_at_ms = 0;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(
        stderr,
        "guest-kvm-run: %s\nusage: guest-kvm-run IMAGE.bin [--workload NAME] [--name NAME] "
        "[--param N] [--tick-hz N] [--memory-mib N] [--ms N] [--inject-exception V@MS] "
        "[--bad-start-info]\n",
        why);
    std::exit(2);
}

[[noreturn]] void unusable(const char* what) {
    std::printf("guest-kvm-run: KVM not usable here (%s: %s); skipping\n", what,
                std::strerror(errno));
    std::exit(77);
}

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "guest-kvm-run: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value after " + arg).c_str());
            return argv[++i];
        };
        auto number = [&]() { return std::strtoull(value().c_str(), nullptr, 0); };
        if (arg == "--workload")
            o.workload = value();
        else if (arg == "--name")
            o.name = value();
        else if (arg == "--param")
            o.param = number();
        else if (arg == "--tick-hz")
            o.tick_hz = static_cast<std::uint32_t>(number());
        else if (arg == "--memory-mib")
            o.memory_mib = number();
        else if (arg == "--ms")
            o.duration_ms = number();
        else if (arg == "--bad-start-info")
            o.bad_start_info = true;
        else if (arg == "--inject-exception") {
            const std::string v = value();
            const auto at = v.find('@');
            if (at == std::string::npos) usage("--inject-exception wants VECTOR@MS");
            o.inject_vector = std::atoi(v.substr(0, at).c_str());
            o.inject_at_ms = std::strtoull(v.substr(at + 1).c_str(), nullptr, 0);
        } else if (!arg.empty() && arg[0] != '-' && o.image_path.empty())
            o.image_path = arg;
        else
            usage(("unknown argument " + arg).c_str());
    }
    if (o.image_path.empty()) usage("no image");
    if (o.memory_mib < (abi::min_memory_size >> 20) || o.memory_mib > (abi::max_memory_size >> 20))
        usage("--memory-mib must be 1..256");
    return o;
}

std::vector<std::uint8_t> read_file(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) fail(path.c_str());
    std::vector<std::uint8_t> bytes;
    std::uint8_t buffer[65536];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0)
        bytes.insert(bytes.end(), buffer, buffer + n);
    std::fclose(f);
    return bytes;
}

std::uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

void sleep_until_ns(std::uint64_t deadline) {
    const timespec ts{static_cast<time_t>(deadline / 1'000'000'000u),
                      static_cast<long>(deadline % 1'000'000'000u)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
                    nullptr); // EINTR is fine: the loop rechecks
}

void on_alarm(int) {} // only there to make KVM_RUN return with EINTR

// struct kvm_cpuid2, spelled out: some <asm/kvm.h> versions declare its flexible array so that
// sizeof is 12 in C++, which changes the ioctl numbers the kernel expects (they encode the size).
struct CpuidHeader {
    std::uint32_t nent;
    std::uint32_t padding;
};
struct CpuidTable {
    CpuidHeader header;
    kvm_cpuid_entry2 entries[256];
};
constexpr unsigned long get_supported_cpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long set_cpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);

// --- Guest memory as guest/ABI.md describes it at entry.

template <typename T> T* at(std::uint8_t* memory, std::uint64_t gpa) {
    return reinterpret_cast<T*>(memory + gpa);
}

void build_memory(std::uint8_t* memory, const Options& o, const std::vector<std::uint8_t>& image,
                  std::uint64_t tsc_hz) {
    const std::uint64_t size = o.memory_mib << 20;
    constexpr std::uint64_t present_writable = 0x3, large = 0x80;
    at<std::uint64_t>(memory, abi::pml4_gpa)[0] = abi::pdpt_gpa | present_writable;
    at<std::uint64_t>(memory, abi::pdpt_gpa)[0] = abi::pd_gpa | present_writable;
    auto* pd = at<std::uint64_t>(memory, abi::pd_gpa);
    const std::uint64_t large_pages = size >> 21;
    for (std::uint64_t i = 0; i < large_pages; ++i)
        pd[i] = (i << 21) | present_writable | large;
    if (size & (1u << 20)) { // an odd number of MiB: the last MiB through the page table at 0x4000
        pd[large_pages] = abi::pt_gpa | present_writable;
        auto* pt = at<std::uint64_t>(memory, abi::pt_gpa);
        for (std::uint64_t i = 0; i < 256; ++i)
            pt[i] = ((large_pages << 21) + (i << 12)) | present_writable;
    }

    auto* gdt = at<std::uint64_t>(memory, abi::gdt_gpa);
    gdt[0] = 0;
    gdt[1] = 0x00AF'9B00'0000'FFFF; // 64-bit code, DPL 0, accessed
    gdt[2] = 0x00CF'9300'0000'FFFF; // data, DPL 0, accessed
    const std::uint64_t tss = abi::tss_gpa;
    gdt[3] = abi::tss_limit | ((tss & 0xFF'FFFF) << 16) | (std::uint64_t{0x8B} << 40) | // busy TSS
             ((tss >> 24 & 0xFF) << 56);
    gdt[4] = tss >> 32;
    *at<std::uint16_t>(memory, abi::tss_gpa + 0x66) = 0x68; // no I/O permission bitmap

    auto* info = at<abi::StartInfo>(memory, abi::start_info_gpa);
    info->magic = abi::start_info_magic;
    info->abi_version = abi::version;
    info->guest_index = 0;
    info->memory_size = size;
    info->param = o.param;
    info->tick_hz = o.tick_hz;
    info->tick_vector = abi::tick_vector;
    info->tsc_hz = tsc_hz;
    std::snprintf(info->name, sizeof info->name, "%s", o.name.c_str());
    std::snprintf(info->image, sizeof info->image, "%s", o.workload.c_str());

    if (o.bad_start_info) info->magic = 0;

    std::memcpy(memory + abi::image_gpa, image.data(), image.size());
}

kvm_segment segment(std::uint16_t selector, std::uint8_t type, bool code) {
    kvm_segment s{};
    s.base = 0;
    s.limit = 0xFFFF'FFFF;
    s.selector = selector;
    s.type = type;
    s.present = 1;
    s.dpl = 0;
    s.db = code ? 0 : 1;
    s.s = 1;
    s.l = code ? 1 : 0;
    s.g = 1;
    return s;
}

// --- The console: one line buffer, split at 120 bytes like the hypervisor's.

struct Console {
    std::string name, line;
    void put(char c) {
        if (c == '\r') return;
        if (c != '\n') line += c;
        if (c == '\n' || line.size() == abi::console_line_max) flush();
    }
    void flush() {
        std::printf("[%s] %s\n", name.c_str(), line.c_str());
        std::fflush(stdout);
        line.clear();
    }
};

} // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    const std::vector<std::uint8_t> image = read_file(o.image_path);
    const std::uint64_t memory_size = o.memory_mib << 20;
    if (abi::image_gpa + image.size() > memory_size - abi::stack_reserve) usage("image too large");

    const int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) unusable("/dev/kvm");
    const int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) unusable("KVM_CREATE_VM");
    ioctl(vm, KVM_SET_TSS_ADDR, 0xFFFB'D000ul); // Intel wants one for real mode; unused here

    void* mapping =
        mmap(nullptr, memory_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED) fail("mmap");
    auto* memory = static_cast<std::uint8_t*>(mapping);
    kvm_userspace_memory_region region{};
    region.slot = 0;
    region.guest_phys_addr = 0;
    region.memory_size = memory_size;
    region.userspace_addr = reinterpret_cast<std::uint64_t>(memory);
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) fail("KVM_SET_USER_MEMORY_REGION");

    const int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) unusable("KVM_CREATE_VCPU");
    const int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    void* run_mapping = mmap(nullptr, static_cast<std::size_t>(run_size), PROT_READ | PROT_WRITE,
                             MAP_SHARED, vcpu, 0);
    if (run_mapping == MAP_FAILED) fail("mmap kvm_run");
    auto* run = static_cast<kvm_run*>(run_mapping);

    // CPUID: what KVM supports, VMX hidden, and the Metronome leaves instead of KVM's.
    static CpuidTable cpuid{};
    constexpr std::uint32_t max_entries = sizeof cpuid.entries / sizeof cpuid.entries[0];
    cpuid.header.nent = max_entries;
    if (ioctl(kvm, get_supported_cpuid, &cpuid) < 0) fail("KVM_GET_SUPPORTED_CPUID");
    bool has_xsave = false;
    std::uint32_t kept = 0;
    for (std::uint32_t i = 0; i < cpuid.header.nent; ++i) {
        kvm_cpuid_entry2 e = cpuid.entries[i];
        if (e.function >= abi::cpuid_base_leaf && e.function <= abi::cpuid_base_leaf + 0xFF)
            continue;
        if (e.function == 1) {
            e.ecx &= ~(1u << 5); // VMX
            has_xsave = (e.ecx >> 26) & 1;
        }
        cpuid.entries[kept++] = e;
    }
    // 0x40000001: a made-up capacity leaf, so that `capacity` has one to print.
    const kvm_cpuid_entry2 leaves[2] = {{abi::cpuid_base_leaf,
                                         0,
                                         0,
                                         abi::cpuid_base_leaf + 1,
                                         abi::cpuid_signature_ebx,
                                         abi::cpuid_signature_ecx,
                                         abi::cpuid_signature_edx,
                                         {}},
                                        {abi::cpuid_base_leaf + 1, 0, 0, 1, 1000, 4000, 25, {}}};
    for (const kvm_cpuid_entry2& e : leaves)
        if (kept < max_entries) cpuid.entries[kept++] = e;
    cpuid.header.nent = kept;
    if (ioctl(vcpu, set_cpuid2, &cpuid) < 0) fail("KVM_SET_CPUID2");

    const int tsc_khz = ioctl(vcpu, KVM_GET_TSC_KHZ, 0);
    const std::uint64_t tsc_hz = tsc_khz > 0 ? static_cast<std::uint64_t>(tsc_khz) * 1000 : 0;
    build_memory(memory, o, image, tsc_hz);

    kvm_sregs sregs{};
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) fail("KVM_GET_SREGS");
    sregs.cs = segment(abi::code_selector, 0xB, true);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = segment(abi::data_selector, 0x3, false);
    sregs.tr = kvm_segment{};
    sregs.tr.base = abi::tss_gpa;
    sregs.tr.limit = abi::tss_limit;
    sregs.tr.selector = abi::tss_selector;
    sregs.tr.type = 0xB;
    sregs.tr.present = 1;
    sregs.ldt = kvm_segment{};
    sregs.ldt.type = 0x2;
    sregs.ldt.unusable = 1;
    sregs.gdt.base = abi::gdt_gpa;
    sregs.gdt.limit = abi::gdt_limit;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cr0 = abi::entry_cr0;
    sregs.cr3 = abi::pml4_gpa;
    sregs.cr4 = abi::entry_cr4 | (has_xsave ? 1u << 18 : 0u);
    sregs.efer = abi::entry_efer;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) fail("KVM_SET_SREGS");

    kvm_regs regs{};
    regs.rip = abi::image_gpa;
    regs.rsp = memory_size;
    regs.rdi = abi::start_info_gpa;
    regs.rsi = o.param;
    regs.rflags = abi::entry_rflags;
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) fail("KVM_SET_REGS");

    // Hardware breakpoints on the VMCALLs.
    std::vector<std::uint64_t> vmcalls;
    for (std::size_t i = 0; i + 2 < image.size(); ++i)
        if (image[i] == 0x0F && image[i + 1] == 0x01 && image[i + 2] == 0xC1)
            vmcalls.push_back(abi::image_gpa + i);
    if (vmcalls.size() > 4) {
        std::fprintf(stderr,
                     "guest-kvm-run: %zu VMCALL byte sequences in the image; only the first "
                     "4 are emulated\n",
                     vmcalls.size());
        vmcalls.resize(4);
    }
    kvm_guest_debug debug{};
    debug.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
    debug.arch.debugreg[7] = 0x400;
    for (std::size_t i = 0; i < vmcalls.size(); ++i) {
        debug.arch.debugreg[i] = vmcalls[i];
        debug.arch.debugreg[7] |= 1u << (2 * i); // local enable, execute, length 1
    }
    if (ioctl(vcpu, KVM_SET_GUEST_DEBUG, &debug) < 0) fail("KVM_SET_GUEST_DEBUG");

    struct sigaction action {};
    action.sa_handler = on_alarm;
    sigaction(SIGALRM, &action, nullptr); // no SA_RESTART: KVM_RUN must return
    const std::uint64_t tick_ns = o.tick_hz != 0 ? 1'000'000'000u / o.tick_hz : 0;
    const std::uint64_t kick_ns = tick_ns != 0 && tick_ns < 10'000'000u ? tick_ns : 10'000'000u;
    itimerval timer{};
    timer.it_interval.tv_usec = static_cast<suseconds_t>(kick_ns / 1000);
    timer.it_value = timer.it_interval;
    setitimer(ITIMER_REAL, &timer, nullptr);

    Console console{o.name, {}};
    std::string state = "running";
    std::uint64_t code = 0, injected = 0, halted_ns = 0, ran_ns = 0, ports_dropped = 0;
    bool halted = false, tick_pending = false, exception_done = o.inject_vector < 0;
    const std::uint64_t start = now_ns();
    const std::uint64_t deadline = start + o.duration_ms * 1'000'000u;
    std::uint64_t next_tick = start + tick_ns;

    while (state == "running") {
        const std::uint64_t now = now_ns();
        if (now >= deadline) break;
        if (tick_ns != 0 && now >= next_tick) {
            tick_pending = true; // ticks that were missed coalesce into this one
            while (next_tick <= now)
                next_tick += tick_ns;
        }
        if (!exception_done && now >= start + o.inject_at_ms * 1'000'000u) {
            kvm_vcpu_events events{};
            if (ioctl(vcpu, KVM_GET_VCPU_EVENTS, &events) < 0) fail("KVM_GET_VCPU_EVENTS");
            events.exception.injected = 1;
            events.exception.nr = static_cast<std::uint8_t>(o.inject_vector);
            const int v = o.inject_vector;
            events.exception.has_error_code =
                v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30;
            events.exception.error_code = 0;
            if (ioctl(vcpu, KVM_SET_VCPU_EVENTS, &events) < 0) fail("KVM_SET_VCPU_EVENTS");
            exception_done = true;
            halted = false;
        }
        if (halted && !(tick_pending && run->if_flag)) {
            // HLT: nothing runs until the next tick (or the end, when there is none or IF = 0).
            const std::uint64_t wake = tick_ns != 0 && run->if_flag ? next_tick : deadline;
            const std::uint64_t until = wake < deadline ? wake : deadline;
            sleep_until_ns(until);
            halted_ns += now_ns() - now;
            continue;
        }
        run->request_interrupt_window = 0;
        if (tick_pending) {
            if (run->ready_for_interrupt_injection && run->if_flag) {
                kvm_interrupt irq{abi::tick_vector};
                if (ioctl(vcpu, KVM_INTERRUPT, &irq) < 0) fail("KVM_INTERRUPT");
                tick_pending = false;
                halted = false;
                ++injected;
            } else {
                run->request_interrupt_window = 1;
            }
        }
        const std::uint64_t entered = now_ns();
        const int rc = ioctl(vcpu, KVM_RUN, 0);
        ran_ns += now_ns() - entered;
        if (rc < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            fail("KVM_RUN");
        }
        switch (run->exit_reason) {
        case KVM_EXIT_HLT:
            halted = true;
            break;
        case KVM_EXIT_IRQ_WINDOW_OPEN:
        case KVM_EXIT_INTR:
            break;
        case KVM_EXIT_IO: {
            auto* data = reinterpret_cast<std::uint8_t*>(run) + run->io.data_offset;
            const std::size_t bytes = std::size_t{run->io.size} * run->io.count;
            if (run->io.direction == KVM_EXIT_IO_IN)
                std::memset(data, 0xFF, bytes);
            else if (run->io.port == abi::console_port && run->io.size == 1)
                for (std::size_t i = 0; i < bytes; ++i)
                    console.put(static_cast<char>(data[i]));
            else
                ++ports_dropped;
            break;
        }
        case KVM_EXIT_DEBUG: {
            if (ioctl(vcpu, KVM_GET_REGS, &regs) < 0) fail("KVM_GET_REGS");
            bool known = false;
            for (std::uint64_t a : vmcalls)
                known = known || a == regs.rip;
            if (!known) {
                state = "error";
                std::printf("guest-kvm-run: debug exit at %#llx\n", regs.rip);
                break;
            }
            switch (regs.rax) {
            case static_cast<std::uint64_t>(abi::Hypercall::yield):
                regs.rax = abi::hypercall_ok;
                break;
            case static_cast<std::uint64_t>(abi::Hypercall::powerdown):
                state = "powered-down";
                code = regs.rbx;
                break;
            case static_cast<std::uint64_t>(abi::Hypercall::console_write):
                if (regs.rcx > abi::console_max_write || regs.rbx > memory_size ||
                    regs.rcx > memory_size - regs.rbx) {
                    regs.rax = abi::hypercall_bad_argument;
                } else {
                    for (std::uint64_t i = 0; i < regs.rcx; ++i)
                        console.put(static_cast<char>(memory[regs.rbx + i]));
                    regs.rax = abi::hypercall_ok;
                }
                break;
            default:
                regs.rax = abi::hypercall_unknown;
            }
            regs.rip += 3;
            if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) fail("KVM_SET_REGS");
            break;
        }
        case KVM_EXIT_SHUTDOWN:
            state = "triple-fault";
            break;
        case KVM_EXIT_MMIO:
            state = "ept-violation";
            std::printf("guest-kvm-run: %s of %u bytes at GPA %#llx, outside guest memory\n",
                        run->mmio.is_write ? "write" : "read", run->mmio.len, run->mmio.phys_addr);
            break;
        case KVM_EXIT_INTERNAL_ERROR:
            state = "error";
            ioctl(vcpu, KVM_GET_REGS, &regs);
            std::printf("guest-kvm-run: KVM internal error, suberror %u, at rip %#llx\n",
                        run->internal.suberror, regs.rip);
            break;
        default:
            state = "error";
            std::printf("guest-kvm-run: unexpected exit reason %u\n", run->exit_reason);
        }
    }
    if (!console.line.empty()) console.flush();

    const auto* info = at<abi::StartInfo>(memory, abi::start_info_gpa);
    if (state == "running" && halted) state = "halted";
    std::printf("RESULT state=%s code=%llu progress=%llu ticks_seen=%llu injected=%llu "
                "guest_status=%llu ports_dropped=%llu halted_ms=%llu ran_ms=%llu tsc_hz=%llu\n",
                state.c_str(), static_cast<unsigned long long>(code),
                static_cast<unsigned long long>(info->progress),
                static_cast<unsigned long long>(info->ticks_seen),
                static_cast<unsigned long long>(injected),
                static_cast<unsigned long long>(info->guest_status),
                static_cast<unsigned long long>(ports_dropped),
                static_cast<unsigned long long>(halted_ns / 1'000'000u),
                static_cast<unsigned long long>(ran_ns / 1'000'000u),
                static_cast<unsigned long long>(tsc_hz));
    return 0;
}
