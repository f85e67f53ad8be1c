// escape: one access outside the guest's memory, chosen by `param`, through a page-table
// entry the guest writes itself (its initial tables map only its own memory, so without one the
// access would be a #PF inside the guest, not a question for the hypervisor). Every such access
// must end the guest with an EPT violation that names the guest-physical address and the kind
// of access (guest/ABI.md section 1). The guest prints the access first and, should it survive
// it, what it read: the test fails on that line.
//
//   param  access                      guest-physical address
//   0      read                        memory_size (the first byte above its memory)
//   1      write                       memory_size
//   2      instruction fetch (jump)    memory_size
//   3      read                        0x7000000, a guess at the hypervisor's memory
//   4      write                       0x7000000
//   5      instruction fetch (jump)    0x7000000
//   6      read                        0xFEE00000, the local APIC's registers
//   7      write                       0xFEE000B0, the local APIC's EOI register
//   8      page walk (CR3 above its memory; the next fetch reads the PML4 there)
//   9      REP INSB of 16 bytes from 8 below the end of memory across it (the hypervisor
//          writes the bytes: emulated, it must end the same way, at memory_size)
//   10     REP OUTSB of 16 bytes the same way (the hypervisor reads them)
// There is no "below": guest-physical addresses start at 0, which is the guest's own memory.
#include "workloads/hostile.hpp"

namespace {

constexpr std::uint64_t window_linear = 0x4000'0000; // 1 GiB: PDPT[1], unused by the ABI tables
constexpr std::uint64_t window_pd = 0x8000;          // a PD in the guest's free low memory
constexpr std::uint64_t large_page = 0x20'0000;
constexpr std::uint64_t present_writable = 0x3, page_size = 0x80;

// Maps the 2 MiB page holding `gpa` at window_linear and returns the linear address of `gpa`.
std::uint64_t map_window(std::uint64_t gpa) {
    auto* pd = reinterpret_cast<volatile std::uint64_t*>(window_pd);
    for (unsigned i = 0; i < 512; ++i)
        pd[i] = 0;
    pd[0] = (gpa & ~(large_page - 1)) | present_writable | page_size;
    auto* pdpt = reinterpret_cast<volatile std::uint64_t*>(metronome::abi::pdpt_gpa);
    pdpt[1] = window_pd | present_writable;
    std::uint64_t cr3;
    asm volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3)::"memory"); // flush the TLB
    return window_linear + (gpa & (large_page - 1));
}

// Maps the two 2 MiB pages on either side of `gpa` (2 MiB aligned) at window_linear and returns
// the linear address of `gpa`: a buffer there crosses from the first into the second.
std::uint64_t map_window_across(std::uint64_t gpa) {
    map_window(gpa - large_page);
    auto* pd = reinterpret_cast<volatile std::uint64_t*>(window_pd);
    pd[1] = gpa | present_writable | page_size;
    std::uint64_t cr3;
    asm volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3)::"memory");
    return window_linear + large_page;
}

void announce(const char* access, std::uint64_t gpa) {
    guest::print("escape: ");
    guest::print(access);
    guest::print(" at guest-physical ");
    guest::print_hex(gpa);
    guest::print_char('\n');
}

[[noreturn]] void survived(std::uint64_t value) {
    guest::print("escape: SURVIVED the access, value ");
    guest::print_hex(value);
    guest::print_char('\n');
    guest::powerdown(1);
}

} // namespace

void workloads::hostile_memory(const StartInfo& info) {
    constexpr std::uint64_t hypervisor_guess = 0x700'0000;
    const std::uint64_t param = info.param;
    const std::uint64_t gpa = param <= 2   ? info.memory_size
                              : param <= 5 ? hypervisor_guess
                              : param == 6 ? 0xFEE0'0000
                              : param == 7 ? 0xFEE0'00B0
                                           : info.memory_size + 0x10'0000;
    if (param == 8) {
        announce("page walk (CR3)", gpa);
        asm volatile("mov %0, %%cr3" ::"r"(gpa) : "memory");
        survived(0);
    }
    if (param == 9 || param == 10) {
        announce(param == 9 ? "write (REP INSB across its end)" : "read (REP OUTSB across its end)", gpa);
        std::uint64_t at = map_window_across(info.memory_size) - 8;
        std::uint64_t count = 16;
        if (param == 9) {
            asm volatile("rep insb" : "+D"(at), "+c"(count) : "d"(0x80) : "memory");
        } else {
            asm volatile("rep outsb" : "+S"(at), "+c"(count) : "d"(0x80) : "memory");
        }
        survived(count);
    }
    if (param > 10) {
        guest::console_line("escape: param must be 0..10");
        guest::powerdown(2);
    }
    const unsigned kind = static_cast<unsigned>(param == 6 ? 0 : param == 7 ? 1 : param % 3);
    announce(kind == 0 ? "read" : kind == 1 ? "write" : "instruction fetch", gpa);
    const std::uint64_t linear = map_window(gpa);
    if (kind == 0) survived(*reinterpret_cast<volatile std::uint64_t*>(linear));
    if (kind == 1) {
        *reinterpret_cast<volatile std::uint64_t*>(linear) = 0x4057'11E0'0000'0001;
        survived(0);
    }
    asm volatile("call *%0" ::"r"(linear) : "memory");
    survived(0);
}
