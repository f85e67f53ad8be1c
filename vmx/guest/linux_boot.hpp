// Booting an unmodified Linux kernel (its vmlinux ELF) with the 64-bit boot protocol
// (Documentation/x86/boot.rst, "64-bit Boot Protocol"), as Firecracker boots vmlinux: the kernel's
// segments at their physical addresses, a boot_params page built from nothing (there is no
// bzImage setup header to copy), the command line, the initrd at the top of memory, an e820 map,
// an MP table for the one processor, identity-mapping page tables and the GDT, then entry at
// startup_64 in 64-bit mode with RSI = boot_params. Pure: the caller provides the bytes.
//
// The guest's low memory (all of it RAM the kernel reserves for itself at boot):
//   0x5000 GDT, 0x5100 TSS (as guest/ABI.md's guests), 0x7000 boot_params, 0x8ff0 initial stack,
//   0x9000 PML4, 0xa000 PDPT, 0xb000.. page directories (2 MiB pages), 0x20000 command line,
//   0x9fc00 MP table (in the e820 hole [0x9fc00, 1 MiB), which is backed by memory: Linux scans
//   it for the MP and ACPI tables), the kernel from 16 MiB (its p_paddr), the initrd last.
#pragma once
#include <cstddef>
#include <cstdint>

#include "vmx/guest/elf_image.hpp"
#include "vmx/guest/guest_layout.hpp"
#include "vmx/guest/mp_table.hpp"

namespace vmx {

namespace linux_layout {
inline constexpr std::uint64_t boot_params = 0x7000;
inline constexpr std::uint64_t stack_top = 0x8ff0;
inline constexpr std::uint64_t pml4 = 0x9000;
inline constexpr std::uint64_t pdpt = 0xa000;
inline constexpr std::uint64_t page_directories = 0xb000; // one per GiB mapped
inline constexpr std::uint64_t max_gib = 4;               // 0xb000..0xefff
inline constexpr std::uint64_t cmdline = 0x20000;
inline constexpr std::uint64_t low_ram_end = 0x9fc00;     // e820: RAM below, reserved from here
inline constexpr std::uint64_t mp_table = low_ram_end;
inline constexpr std::uint64_t high_ram = 1ull << 20;     // e820: RAM again from 1 MiB
inline constexpr std::uint64_t kernel_lowest = high_ram;  // nothing of the kernel below 1 MiB
// The initrd ends at or below this (the kernel's initrd_addr_max is 0x7fffffff).
inline constexpr std::uint64_t initrd_limit = 1ull << 31;
inline constexpr std::uint64_t initrd_alignment = 2ull << 20;
// The smallest memory a Linux guest is given (the kernel's run area alone is ~74 MiB for 6.1).
inline constexpr std::uint64_t min_memory = 64ull << 20;
inline constexpr std::uint64_t max_memory = max_gib << 30;
} // namespace linux_layout

// Where a Linux guest's pieces go, decided before anything is written.
struct LinuxBootPlan {
    bool ok = false;
    std::uint64_t memory_size = 0;
    std::uint64_t entry = 0;        // startup_64's physical address (e_entry)
    std::uint64_t kernel_start = 0; // lowest and end of the kernel's segments
    std::uint64_t kernel_end = 0;
    std::uint64_t initrd_gpa = 0;   // 0 with no initrd
    std::uint64_t initrd_size = 0;
    std::size_t cmdline_length = 0;
    char error[160] = {};           // one line when !ok
};

// Checks the kernel (parsed with parse_elf_kernel for `memory_size`), the initrd's size and the
// command line's length, and places the initrd at the highest 2 MiB boundary that lets it end
// inside memory (and below 2 GiB), above the kernel. Always fills `out`.
void plan_linux_boot(const ElfImage& kernel, std::uint64_t memory_size, std::uint64_t initrd_size,
                     std::size_t cmdline_length, LinuxBootPlan& out);

// Writes the boot structures (not the kernel's segments nor the initrd's bytes, which the caller
// copies: load_elf_image and initrd_gpa) into the guest's zeroed memory: GDT/TSS, boot_params
// with its e820 map, the command line, the page tables and the MP table for `cpu`. False when the
// plan is not ok or does not match `memory_size`.
bool write_linux_boot(std::uint8_t* memory, std::uint64_t memory_size, const LinuxBootPlan& plan,
                      const char* cmdline, const MpProcessor& cpu);

// The register state of the entry (boot.rst): 64-bit mode, paging on with the identity map,
// interrupts off, RSI = boot_params. `xsave` adds CR4.OSXSAVE and `nx` EFER.NXE, as for guests.
GuestEntryState linux_entry_state(const LinuxBootPlan& plan, bool xsave, bool nx);

} // namespace vmx
