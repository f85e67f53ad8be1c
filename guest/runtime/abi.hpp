// The Metronome guest ABI, version 1, as constants and one struct: what guest/ABI.md describes.
// Freestanding and dependency-free, and the one definition of these facts: the guest runtime
// and workloads include it, and so does the hypervisor (vmx/guest, vmx/exits, vmx/config), as
// does the test harness that prepares a guest on KVM.
#pragma once
#include <cstddef>
#include <cstdint>

namespace metronome::abi {

inline constexpr std::uint32_t version = 1;

// Guest-physical layout (guest memory is identity-mapped, so these are also the addresses the
// guest uses).
inline constexpr std::uint64_t pml4_gpa = 0x1000;
inline constexpr std::uint64_t pdpt_gpa = 0x2000;
inline constexpr std::uint64_t pd_gpa = 0x3000;
inline constexpr std::uint64_t pt_gpa = 0x4000; // only when memory_size is an odd number of MiB
inline constexpr std::uint64_t gdt_gpa = 0x5000;
inline constexpr std::uint16_t gdt_limit = 0x27; // five 8-byte slots: null, code, data, TSS (2)
inline constexpr std::uint64_t tss_gpa = 0x5100;
inline constexpr std::uint32_t tss_limit = 0x67; // 104 bytes
inline constexpr std::uint64_t start_info_gpa = 0x6000;
inline constexpr std::uint64_t image_gpa = 0x10000;
inline constexpr std::uint64_t stack_reserve = 64 * 1024; // the image must end below size - this
inline constexpr std::uint64_t default_memory_size = 2 * 1024 * 1024;
inline constexpr std::uint64_t min_memory_size = 1 * 1024 * 1024; // always a whole number of MiB
inline constexpr std::uint64_t max_memory_size = 256 * 1024 * 1024;

// Selectors in the hypervisor's GDT.
inline constexpr std::uint16_t code_selector = 0x08;
inline constexpr std::uint16_t data_selector = 0x10;
inline constexpr std::uint16_t tss_selector = 0x18;

// Control registers at entry (CR4 also has OSXSAVE when the CPU supports XSAVE).
inline constexpr std::uint64_t entry_cr0 = 0x8001'0033; // PG | WP | NE | ET | MP | PE
inline constexpr std::uint64_t entry_cr4 = 0x0620;      // OSXMMEXCPT | OSFXSR | PAE
inline constexpr std::uint64_t entry_efer = 0x0D01;     // NXE | LMA | LME | SCE (NXE if supported)
inline constexpr std::uint64_t entry_rflags = 0x2;

// The virtual tick.
inline constexpr std::uint32_t tick_vector = 0x20;

// Console.
inline constexpr std::uint16_t console_port = 0xE9;
inline constexpr std::uint64_t console_max_write = 4096;
inline constexpr std::size_t console_line_max = 120;
// A longer console write is carried out this many bytes per exit, the VMCALL executed again with
// RBX and RCX advanced until it is done (~60 instructions a byte: an exit stays short).
inline constexpr std::uint64_t console_write_bytes_per_exit = 128;

// Hypercalls: VMCALL with RAX = number, arguments in RBX, RCX, RDX, result in RAX.
enum class Hypercall : std::uint64_t {
    yield = 0,         // give up the rest of the slice
    powerdown = 1,     // RBX = exit code; never returns
    console_write = 2, // RBX = GPA of the bytes, RCX = length (<= console_max_write)
    ready = 3,         // the workload has started: the measurement window may open
};
inline constexpr std::uint64_t hypercall_ok = 0;
inline constexpr std::uint64_t hypercall_unknown = 0xFFFF'FFFF'FFFF'FFFF;
inline constexpr std::uint64_t hypercall_bad_argument = 0xFFFF'FFFF'FFFF'FFFE;

// CPUID leaf 0x40000000: EAX = highest hypervisor leaf, EBX:ECX:EDX = "Metronome\0\0\0".
inline constexpr std::uint32_t cpuid_base_leaf = 0x4000'0000;
inline constexpr std::uint32_t cpuid_signature_ebx = 0x7274'654D; // "Metr"
inline constexpr std::uint32_t cpuid_signature_ecx = 0x6D6F'6E6F; // "onom"
inline constexpr std::uint32_t cpuid_signature_edx = 0x0000'0065; // "e\0\0\0"
// 0x40000001..0x40000003: the capacity leaves (guest/ABI.md section 9).
inline constexpr std::uint32_t cpuid_max_leaf = 0x4000'0003;
// Every leaf from cpuid_base_leaf to here belongs to Metronome (above the maximum: zeros).
inline constexpr std::uint32_t cpuid_range_last = 0x4000'00FF;

// The workloads of the built-in image (guest/workloads/), by the name the configuration's
// `image` key and the start-info `image` field use.
inline constexpr const char* builtin_workloads[] = {
    "spin",   "idle",     "bursty",    "exitstorm", "crash",    "powerdown", "capacity", "vmexit",
    // the hostile catalogue (guest/workloads/hostile.hpp)
    "escape", "vmxprobe", "privprobe", "portsweep", "clihlt",   "faultloop", "leakprobe", "storm",
    "tfhlt",
};
inline constexpr std::size_t builtin_workload_count = sizeof builtin_workloads / sizeof builtin_workloads[0];

// The start-info page at start_info_gpa. Filled by the hypervisor before the first entry; the
// guest owns `progress`, `ticks_seen` and `guest_status`, which the hypervisor reads for its
// report.
inline constexpr std::uint64_t start_info_magic =
    0x4F46'4E49'4E52'544D; // "MTRNINFO" in memory order

struct StartInfo {
    std::uint64_t magic;         // 0x00 start_info_magic
    std::uint32_t abi_version;   // 0x08 version
    std::uint32_t guest_index;   // 0x0C position of the guest in the configuration, from 0
    std::uint64_t memory_size;   // 0x10 bytes of guest memory (a whole number of MiB)
    std::uint64_t param;         // 0x18 the configured `param` (also in RSI at entry)
    std::uint32_t tick_hz;       // 0x20 virtual tick rate, 0 = no tick
    std::uint32_t tick_vector;   // 0x24 tick_vector
    std::uint64_t tsc_hz;        // 0x28 TSC frequency
    char name[32];               // 0x30 the guest's name, NUL-terminated
    char image[64];              // 0x50 built-in workload name or image path, NUL-terminated
    std::uint8_t reserved[0x70]; // 0x90 zero
    std::uint64_t progress;      // 0x100 work done, incremented by the guest
    std::uint64_t ticks_seen;    // 0x108 ticks taken, incremented by the guest's tick handler
    std::uint64_t guest_status;  // 0x110 free for the workload
};

static_assert(offsetof(StartInfo, magic) == 0x00);
static_assert(offsetof(StartInfo, abi_version) == 0x08);
static_assert(offsetof(StartInfo, guest_index) == 0x0C);
static_assert(offsetof(StartInfo, memory_size) == 0x10);
static_assert(offsetof(StartInfo, param) == 0x18);
static_assert(offsetof(StartInfo, tick_hz) == 0x20);
static_assert(offsetof(StartInfo, tick_vector) == 0x24);
static_assert(offsetof(StartInfo, tsc_hz) == 0x28);
static_assert(offsetof(StartInfo, name) == 0x30);
static_assert(offsetof(StartInfo, image) == 0x50);
static_assert(offsetof(StartInfo, progress) == 0x100);
static_assert(offsetof(StartInfo, ticks_seen) == 0x108);
static_assert(offsetof(StartInfo, guest_status) == 0x110);
static_assert(sizeof(StartInfo) == 0x118);

} // namespace metronome::abi
