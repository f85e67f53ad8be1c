// Guest images from files: the pure validator and loader for ELF64 executables linked for
// guest-physical addresses (guest/ABI.md, "Guest images from the ESP").
//
// parse_elf_image reads untrusted bytes (any length, any content) without reading out of bounds
// and without overflowing an address computation; it either accepts the image, with the list of
// segments to copy and zero and the entry point, or refuses it with ONE line that names the
// problem. load_elf_image then writes an accepted image into guest memory. Pure and
// freestanding: no heap, no libc.
//
// What is accepted (everything else is refused):
//   - ELF magic, ELFCLASS64, little-endian (ELFDATA2LSB), EV_CURRENT, ET_EXEC, EM_X86_64;
//   - program headers of 56 bytes, 1..65534 of them, all inside the file;
//   - no PT_INTERP (a guest has no program interpreter) and no PT_TLS;
//   - 1..max_elf_segments PT_LOAD segments with p_memsz > 0 (PT_LOAD with p_memsz 0 is skipped,
//     so is a read-only PT_LOAD at file offset 0 that holds nothing but the ELF and program
//     headers, as GNU ld emits one page below the first section; other types such as PT_NOTE
//     and PT_GNU_STACK are ignored), each with p_filesz <= p_memsz,
//     its file bytes inside the file, p_vaddr == p_paddr (guests run identity-mapped, so the
//     address the code was linked for is its GPA), and [p_paddr, p_paddr + p_memsz) inside
//     [image_base, memory_size - stack_reserve): nothing in the hypervisor's low 64 KiB (page
//     tables, GDT, start-info page) and nothing in the initial stack's reserve;
//   - no two loadable segments share a byte;
//   - e_entry inside the file-backed bytes of an executable (PF_X) loadable segment.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vmx {

class Text;

inline constexpr std::size_t max_elf_segments = 16;

struct ElfSegment {
    std::uint64_t gpa = 0;          // where the segment starts in guest memory
    std::uint64_t file_offset = 0;  // its bytes in the file...
    std::uint64_t file_size = 0;    // ...copied to gpa; the rest up to memory_size is zeroed
    std::uint64_t memory_size = 0;
    bool executable = false;
};

struct ElfImage {
    bool ok = false;
    std::uint64_t entry = 0;
    ElfSegment segments[max_elf_segments] = {};
    std::size_t segment_count = 0;
    char error[160] = {};  // one line, no newline, when !ok
};

// Validates `size` bytes at `bytes` as a guest image for a guest with `memory_size` bytes of
// memory. Always fills `out` (ok, or the error).
void parse_elf_image(const std::uint8_t* bytes, std::size_t size, std::uint64_t memory_size,
                     ElfImage& out);

// The same for an operating-system kernel's ELF (a Linux vmlinux): segments are placed by their
// physical address (p_paddr; the kernel is linked for its own virtual addresses) inside
// [lowest_gpa, memory_size), and the entry point is a physical address inside an executable
// segment. The other checks are those of guest images.
void parse_elf_kernel(const std::uint8_t* bytes, std::size_t size, std::uint64_t memory_size,
                      std::uint64_t lowest_gpa, ElfImage& out);

// Copies every accepted segment's file bytes to its GPA and zeroes the rest of its memory size
// (.bss). `image` must come from parse_elf_image on the same bytes and memory size; returns false
// (and writes nothing) otherwise.
bool load_elf_image(std::uint8_t* memory, std::uint64_t memory_size, const std::uint8_t* bytes,
                    std::size_t size, const ElfImage& image);

} // namespace vmx
