// The facts of the Linux/x86 boot protocol that a loader of a 64-bit kernel needs, from the
// kernel's Documentation/x86/boot.rst ("The Real-Mode Kernel Header", "64-bit Boot Protocol") and
// Documentation/x86/zero-page.rst: offsets inside the 4 KiB boot_params ("zero page"), the
// setup-header values, and the e820 entry format. Constants only.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vmx::linux_abi {

inline constexpr std::size_t boot_params_size = 4096;

// boot_params fields (zero-page.rst).
namespace zero_page {
inline constexpr std::size_t ext_ramdisk_image = 0x0c0; // u32: bits 63:32 of ramdisk_image
inline constexpr std::size_t ext_ramdisk_size = 0x0c4;  // u32
inline constexpr std::size_t ext_cmd_line_ptr = 0x0c8;  // u32
inline constexpr std::size_t e820_entries = 0x1e8;      // u8
inline constexpr std::size_t sentinel = 0x1ef;          // u8: must be 0, or the kernel wipes fields
inline constexpr std::size_t setup_header = 0x1f1;
inline constexpr std::size_t e820_table = 0x2d0;        // 128 entries of 20 bytes
inline constexpr std::size_t e820_max_entries = 128;
} // namespace zero_page

// The setup header inside boot_params (boot.rst, "The Real-Mode Kernel Header").
namespace header {
inline constexpr std::size_t boot_flag = 0x1fe;        // u16: 0xAA55
inline constexpr std::size_t magic = 0x202;            // u32: "HdrS"
inline constexpr std::size_t version = 0x206;          // u16
inline constexpr std::size_t type_of_loader = 0x210;   // u8
inline constexpr std::size_t loadflags = 0x211;        // u8
inline constexpr std::size_t ramdisk_image = 0x218;    // u32
inline constexpr std::size_t ramdisk_size = 0x21c;     // u32
inline constexpr std::size_t cmd_line_ptr = 0x228;     // u32
inline constexpr std::size_t initrd_addr_max = 0x22c;  // u32
inline constexpr std::size_t kernel_alignment = 0x230; // u32
inline constexpr std::size_t cmdline_size = 0x238;     // u32

inline constexpr std::uint16_t boot_flag_value = 0xaa55;
inline constexpr std::uint32_t magic_value = 0x53726448; // "HdrS"
// 2.15: the protocol of the 6.1 kernels this loader is written against.
inline constexpr std::uint16_t protocol_version = 0x020f;
// Not one of the registered boot loaders: "undefined" (0xFF). Must be nonzero, or the kernel
// ignores the initrd (arch/x86/kernel/setup.c, early_reserve_initrd).
inline constexpr std::uint8_t loader_undefined = 0xff;
inline constexpr std::uint8_t loaded_high = 0x01;        // loadflags: protected-mode code at 1 MiB+
} // namespace header

// The kernel's command line: at most this many bytes before its NUL (COMMAND_LINE_SIZE - 1 on
// x86-64).
inline constexpr std::size_t cmdline_max = 2047;

// e820 entries (zero-page.rst, "struct boot_e820_entry"): u64 address, u64 size, u32 type.
inline constexpr std::size_t e820_entry_size = 20;
enum class E820 : std::uint32_t { ram = 1, reserved = 2 };

// The 64-bit kernel's physical load address must be 2 MiB aligned: __startup_64 (head64.c) spins
// forever otherwise.
inline constexpr std::uint64_t kernel_load_alignment = 2ull << 20;

} // namespace vmx::linux_abi
