#include "vmx/guest/guest_layout.hpp"

#include <cstddef>

#include "vmx/lib/little_endian.hpp"
#include "vmx/arch/segments.hpp"
#include "vmx/arch/x86.hpp"

namespace vmx {
namespace {

void put_u64(std::uint8_t* p, std::uint64_t v) { store_le(p, v, 8); }
void put_u32(std::uint8_t* p, std::uint32_t v) { store_le(p, v, 4); }

void put_string(std::uint8_t* p, std::size_t capacity, const char* s) {
    std::size_t i = 0;
    for (; s != nullptr && s[i] != '\0' && i + 1 < capacity; ++i) p[i] = static_cast<std::uint8_t>(s[i]);
    for (; i < capacity; ++i) p[i] = 0;
}

void zero(std::uint8_t* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) p[i] = 0;
}

// Page-table entry bits (SDM "Paging", 4-level: "Format of a PML4 Entry" and siblings).
constexpr std::uint64_t pte_present = 1u << 0;
constexpr std::uint64_t pte_writable = 1u << 1;
constexpr std::uint64_t pte_large = 1u << 7;

// A 64-bit TSS descriptor occupies 16 bytes (SDM "TSS Descriptor in 64-bit mode"). The guest
// never executes LTR: its TR is loaded by VM entry from the VMCS, which requires a busy TSS, so
// the GDT says busy too and the two agree.
void put_tss_descriptor(std::uint8_t* p, std::uint64_t base, std::uint32_t limit) {
    put_u64(p, make_descriptor(static_cast<std::uint32_t>(base), limit, access_rights_tss64_busy));
    put_u64(p + 8, tss64_descriptor_high(base));
}

} // namespace

namespace abi = metronome::abi;

void write_guest_gdt(std::uint8_t* memory) {
    zero(memory + abi::gdt_gpa, abi::gdt_limit + 1);
    zero(memory + abi::tss_gpa, abi::tss_limit + 1);
    put_u64(memory + abi::gdt_gpa + abi::code_selector, code64_descriptor);
    put_u64(memory + abi::gdt_gpa + abi::data_selector, data_descriptor);
    put_tss_descriptor(memory + abi::gdt_gpa + abi::tss_selector, abi::tss_gpa, abi::tss_limit);
    // No I/O permission bitmap: its offset points past the TSS limit.
    memory[abi::tss_gpa + 0x66] = static_cast<std::uint8_t>(abi::tss_limit + 1);
}

bool prepare_guest_memory(std::uint8_t* memory, std::uint64_t memory_size,
                          const GuestIdentity& identity, const char** reason) {
    if (memory_size < abi::min_memory_size || memory_size > abi::max_memory_size || memory_size % (1u << 20) != 0) {
        *reason = "guest memory must be a whole number of MiB between 1 and 256";
        return false;
    }
    zero(memory, abi::image_gpa);

    // Identity map [0, memory_size): 2 MiB pages, and 4 KiB pages for an odd last MiB, so the
    // guest's own page tables never name an address outside its memory.
    put_u64(memory + abi::pml4_gpa, abi::pdpt_gpa | pte_present | pte_writable);
    put_u64(memory + abi::pdpt_gpa, abi::pd_gpa | pte_present | pte_writable);
    const std::uint64_t two_mib = 2ull << 20;
    const std::uint64_t whole = memory_size / two_mib;
    for (std::uint64_t i = 0; i < whole; ++i) {
        put_u64(memory + abi::pd_gpa + 8 * i, i * two_mib | pte_present | pte_writable | pte_large);
    }
    if (memory_size % two_mib != 0) {
        put_u64(memory + abi::pd_gpa + 8 * whole, abi::pt_gpa | pte_present | pte_writable);
        for (std::uint64_t i = 0; i < 256; ++i) {
            put_u64(memory + abi::pt_gpa + 8 * i, (whole * two_mib + i * 4096) | pte_present | pte_writable);
        }
    }

    write_guest_gdt(memory);

    using Info = abi::StartInfo;
    std::uint8_t* info = memory + abi::start_info_gpa;
    put_u64(info + offsetof(Info, magic), abi::start_info_magic);
    put_u32(info + offsetof(Info, abi_version), abi::version);
    put_u32(info + offsetof(Info, guest_index), identity.index);
    put_u64(info + offsetof(Info, memory_size), memory_size);
    put_u64(info + offsetof(Info, param), identity.param);
    put_u32(info + offsetof(Info, tick_hz), identity.tick_hz);
    put_u32(info + offsetof(Info, tick_vector), abi::tick_vector);
    put_u64(info + offsetof(Info, tsc_hz), identity.tsc_hz);
    put_string(info + offsetof(Info, name), sizeof(Info::name), identity.name);
    put_string(info + offsetof(Info, image), sizeof(Info::image), identity.image);
    return true;
}

GuestEntryState guest_entry_state(std::uint64_t memory_size, std::uint64_t entry,
                                  std::uint64_t param, bool xsave, bool nx) {
    // The ABI's entry values (guest/ABI.md, "At entry"); the VMCS adjusts them against the FIXED
    // MSRs, and these are what the guest sees.
    GuestEntryState s{};
    s.rip = entry;
    s.rsp = memory_size;
    s.rdi = abi::start_info_gpa;
    s.rsi = param;
    s.cr0 = abi::entry_cr0;
    s.cr3 = abi::pml4_gpa;
    s.cr4 = abi::entry_cr4 | (xsave ? cr4::osxsave : 0);
    s.efer = nx ? abi::entry_efer : (abi::entry_efer & ~efer::nxe);
    s.gdt_base = abi::gdt_gpa;
    s.tss_base = abi::tss_gpa;
    return s;
}

bool load_flat_image(std::uint8_t* memory, std::uint64_t memory_size, const std::uint8_t* image,
                     std::size_t image_size, const char** reason) {
    if (memory_size < abi::image_gpa + abi::stack_reserve ||
        image_size > memory_size - abi::image_gpa - abi::stack_reserve) {
        *reason = "the image does not fit below the guest's stack";
        return false;
    }
    for (std::size_t i = 0; i < image_size; ++i) memory[abi::image_gpa + i] = image[i];
    return true;
}

std::uint64_t read_guest_u64(const std::uint8_t* memory, std::uint64_t memory_size,
                             std::uint64_t guest_physical) {
    if (guest_physical > memory_size || memory_size - guest_physical < 8) return 0;
    return load_le(memory + guest_physical, 8);
}

} // namespace vmx
