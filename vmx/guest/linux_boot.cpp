#include "vmx/guest/linux_boot.hpp"

#include "guest/runtime/abi.hpp"
#include "vmx/arch/x86.hpp"
#include "vmx/guest/linux_abi.hpp"
#include "vmx/lib/little_endian.hpp"
#include "vmx/lib/text.hpp"

namespace vmx {
namespace {

namespace layout = linux_layout;
namespace zp = linux_abi::zero_page;
namespace hdr = linux_abi::header;

// Page-table entry bits (SDM "Paging", "Format of a PML4 Entry" and siblings).
constexpr std::uint64_t pte_present = 1u << 0;
constexpr std::uint64_t pte_writable = 1u << 1;
constexpr std::uint64_t pte_large = 1u << 7;
constexpr std::uint64_t gib = 1ull << 30;
constexpr std::uint64_t two_mib = 2ull << 20;

Text refuse(LinuxBootPlan& out) {
    out.ok = false;
    return Text(out.error, sizeof out.error);
}

void e820(std::uint8_t* params, unsigned index, std::uint64_t address, std::uint64_t size, linux_abi::E820 type) {
    std::uint8_t* e = params + zp::e820_table + index * linux_abi::e820_entry_size;
    store_le(e, address, 8);
    store_le(e + 8, size, 8);
    store_le(e + 16, static_cast<std::uint32_t>(type), 4);
}

// Identity map of [0, whole GiBs covering memory) with 2 MiB pages: the boot protocol wants the
// kernel, boot_params and the command line mapped; the kernel builds its own tables at once.
void write_page_tables(std::uint8_t* memory, std::uint64_t memory_size) {
    const std::uint64_t gibs = (memory_size + gib - 1) / gib;
    store_le(memory + layout::pml4, layout::pdpt | pte_present | pte_writable, 8);
    for (std::uint64_t g = 0; g < gibs; ++g) {
        const std::uint64_t pd = layout::page_directories + g * 0x1000;
        store_le(memory + layout::pdpt + 8 * g, pd | pte_present | pte_writable, 8);
        for (std::uint64_t i = 0; i < 512; ++i)
            store_le(memory + pd + 8 * i, (g * gib + i * two_mib) | pte_present | pte_writable | pte_large, 8);
    }
}

} // namespace

void plan_linux_boot(const ElfImage& kernel, std::uint64_t memory_size, std::uint64_t initrd_size,
                     std::size_t cmdline_length, LinuxBootPlan& out) {
    out = LinuxBootPlan{};
    out.memory_size = memory_size;
    if (memory_size < layout::min_memory || memory_size > layout::max_memory || memory_size % (1u << 20) != 0) {
        refuse(out).str("a Linux guest's memory must be a whole number of MiB from ").dec(layout::min_memory >> 20)
            .str(" to ").dec(layout::max_memory >> 20).str(" MiB");
        return;
    }
    if (!kernel.ok) {
        refuse(out).str("the kernel was not accepted: ").str(kernel.error);
        return;
    }
    out.kernel_start = ~0ull;
    for (std::size_t i = 0; i < kernel.segment_count; ++i) {
        const ElfSegment& s = kernel.segments[i];
        if (s.gpa < out.kernel_start) out.kernel_start = s.gpa;
        if (s.gpa + s.memory_size > out.kernel_end) out.kernel_end = s.gpa + s.memory_size;
    }
    if (out.kernel_start % linux_abi::kernel_load_alignment != 0) {
        refuse(out).str("the kernel's lowest segment is at ").hex(out.kernel_start)
            .str(", not 2 MiB aligned (a 64-bit Linux kernel stops at once unless it is)");
        return;
    }
    if (cmdline_length > linux_abi::cmdline_max) {
        refuse(out).str("the command line is ").dec(cmdline_length).str(" bytes; Linux takes at most ")
            .dec(linux_abi::cmdline_max);
        return;
    }
    out.cmdline_length = cmdline_length;
    if (initrd_size > 0) {
        const std::uint64_t top = memory_size < layout::initrd_limit ? memory_size : layout::initrd_limit;
        const std::uint64_t room = top > out.kernel_end ? top - out.kernel_end : 0;
        const std::uint64_t at = initrd_size <= top ? (top - initrd_size) / layout::initrd_alignment * layout::initrd_alignment : 0;
        if (initrd_size > room || at < out.kernel_end) {
            refuse(out).str("the initrd (").dec(initrd_size).str(" bytes) does not fit between the kernel's end at ")
                .hex(out.kernel_end).str(" and ").hex(top).str(" (give the guest more memory_mib)");
            return;
        }
        out.initrd_gpa = at;
        out.initrd_size = initrd_size;
    }
    out.entry = kernel.entry;
    out.ok = true;
}

bool write_linux_boot(std::uint8_t* memory, std::uint64_t memory_size, const LinuxBootPlan& plan,
                      const char* cmdline, const MpProcessor& cpu) {
    if (!plan.ok || plan.memory_size != memory_size) return false;
    write_guest_gdt(memory);
    write_page_tables(memory, memory_size);

    std::uint8_t* params = memory + layout::boot_params;
    for (std::size_t i = 0; i < linux_abi::boot_params_size; ++i) params[i] = 0;
    store_le(params + hdr::boot_flag, hdr::boot_flag_value, 2);
    store_le(params + hdr::magic, hdr::magic_value, 4);
    store_le(params + hdr::version, hdr::protocol_version, 2);
    params[hdr::type_of_loader] = hdr::loader_undefined;
    params[hdr::loadflags] = hdr::loaded_high;
    store_le(params + hdr::cmd_line_ptr, layout::cmdline, 4);
    store_le(params + hdr::cmdline_size, linux_abi::cmdline_max, 4);
    store_le(params + hdr::initrd_addr_max, layout::initrd_limit - 1, 4);
    store_le(params + hdr::kernel_alignment, linux_abi::kernel_load_alignment, 4);
    store_le(params + hdr::ramdisk_image, plan.initrd_gpa, 4); // below 2 GiB: no ext_ field
    store_le(params + hdr::ramdisk_size, plan.initrd_size, 4);
    e820(params, 0, 0, layout::low_ram_end, linux_abi::E820::ram);
    e820(params, 1, layout::low_ram_end, layout::high_ram - layout::low_ram_end, linux_abi::E820::reserved);
    e820(params, 2, layout::high_ram, memory_size - layout::high_ram, linux_abi::E820::ram);
    params[zp::e820_entries] = 3;

    char* line = reinterpret_cast<char*>(memory + layout::cmdline);
    for (std::size_t i = 0; i < plan.cmdline_length; ++i) line[i] = cmdline[i];
    line[plan.cmdline_length] = '\0';

    return write_mp_table(memory + layout::mp_table, layout::mp_table, layout::high_ram - layout::mp_table, cpu);
}

GuestEntryState linux_entry_state(const LinuxBootPlan& plan, bool xsave, bool nx) {
    namespace abi = metronome::abi;
    GuestEntryState s{};
    s.rip = plan.entry;
    s.rsp = layout::stack_top;
    s.rsi = layout::boot_params;
    s.cr0 = abi::entry_cr0;
    s.cr3 = layout::pml4;
    s.cr4 = abi::entry_cr4 | (xsave ? cr4::osxsave : 0);
    s.efer = nx ? abi::entry_efer : (abi::entry_efer & ~efer::nxe);
    s.gdt_base = abi::gdt_gpa;
    s.tss_base = abi::tss_gpa;
    return s;
}

} // namespace vmx
