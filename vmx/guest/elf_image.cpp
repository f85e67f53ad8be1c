#include "vmx/guest/elf_image.hpp"

#include "vmx/lib/little_endian.hpp"

#include "vmx/guest/guest_layout.hpp"
#include "vmx/lib/text.hpp"

namespace vmx {
namespace {

// Field offsets of the ELF-64 Object File Format (file header and program header).
namespace ehdr {
constexpr std::size_t size = 64;
constexpr std::size_t ident_class = 4, ident_data = 5, ident_version = 6;
constexpr std::size_t type = 16, machine = 18, version = 20, entry = 24, phoff = 32;
constexpr std::size_t phentsize = 54, phnum = 56;
} // namespace ehdr
namespace phdr {
constexpr std::size_t size = 56;
constexpr std::size_t type = 0, flags = 4, offset = 8, vaddr = 16, paddr = 24, filesz = 32, memsz = 40;
} // namespace phdr

constexpr std::uint8_t elfclass64 = 2, elfdata2lsb = 1, ev_current = 1;
constexpr std::uint16_t et_exec = 2, et_dyn = 3, em_x86_64 = 62;
constexpr std::uint16_t pn_xnum = 0xffff;  // extended program-header numbering
constexpr std::uint32_t pt_load = 1, pt_interp = 3, pt_tls = 7, pf_x = 1, pf_w = 2;

// Little-endian reads at offsets the caller has checked against the size.
std::uint64_t read_le(const std::uint8_t* p, unsigned bytes) { return load_le(p, bytes); }

// [offset, offset + length) lies inside [0, size), without overflow.
bool inside(std::uint64_t offset, std::uint64_t length, std::uint64_t size) {
    return offset <= size && length <= size - offset;
}

// What one kind of image may contain: where its segments may lie, and by which address.
struct ElfRules {
    bool identity = true;      // guest images: p_vaddr == p_paddr (they run identity-mapped)
    std::uint64_t low = 0;     // every segment inside [low, high) of guest-physical memory
    std::uint64_t high = 0;
    const char* low_owner = ""; // what lives below `low`, for the error
    const char* high_owner = "";
};

Text refuse(ElfImage& out) {
    out.ok = false;
    out.segment_count = 0;
    return Text(out.error, sizeof out.error);
}

bool check_header(const std::uint8_t* b, std::size_t size, ElfImage& out) {
    if (size < 4 || b[0] != 0x7f || b[1] != 'E' || b[2] != 'L' || b[3] != 'F') {
        refuse(out).str("not an ELF file (bad magic; ").dec(size).str(" bytes)");
        return false;
    }
    if (size < ehdr::size) {
        refuse(out).str("truncated: ").dec(size).str(" bytes, shorter than the 64-byte ELF64 header");
        return false;
    }
    if (b[ehdr::ident_class] != elfclass64) {
        refuse(out).str("not ELF64 (class ").dec(b[ehdr::ident_class]).str("; guests are 64-bit)");
        return false;
    }
    if (b[ehdr::ident_data] != elfdata2lsb) {
        refuse(out).str("not little-endian (data encoding ").dec(b[ehdr::ident_data]).chr(')');
        return false;
    }
    if (b[ehdr::ident_version] != ev_current || read_le(b + ehdr::version, 4) != ev_current) {
        refuse(out).str("unknown ELF version");
        return false;
    }
    const std::uint64_t machine = read_le(b + ehdr::machine, 2);
    if (machine != em_x86_64) {
        refuse(out).str("not x86-64 (e_machine ").dec(machine).chr(')');
        return false;
    }
    const std::uint64_t type = read_le(b + ehdr::type, 2);
    if (type != et_exec) {
        Text t = refuse(out).str("not an executable (e_type ").dec(type);
        t.str(type == et_dyn ? ", position-independent: link with -no-pie at fixed addresses)" : ")");
        return false;
    }
    return true;
}

// The PT_LOAD header at `p`, checked on its own; false with the error filled.
bool check_segment(const std::uint8_t* p, unsigned index, std::size_t size, std::uint64_t memory_size,
                   const ElfRules& rules, ElfImage& out) {
    const std::uint64_t offset = read_le(p + phdr::offset, 8);
    const std::uint64_t vaddr = read_le(p + phdr::vaddr, 8);
    const std::uint64_t paddr = read_le(p + phdr::paddr, 8);
    const std::uint64_t filesz = read_le(p + phdr::filesz, 8);
    const std::uint64_t memsz = read_le(p + phdr::memsz, 8);
    const std::uint64_t low = rules.low;
    const std::uint64_t high = rules.high;
    if (filesz > memsz) {
        refuse(out).str("segment ").dec(index).str(": file size ").hex(filesz).str(" exceeds its memory size ").hex(memsz);
        return false;
    }
    if (!inside(offset, filesz, size)) {
        refuse(out).str("segment ").dec(index).str(": its bytes (offset ").hex(offset).str(", ").hex(filesz).str(" bytes) lie outside the ").dec(size).str("-byte file");
        return false;
    }
    if (rules.identity && vaddr != paddr) {
        refuse(out).str("segment ").dec(index).str(": virtual address ").hex(vaddr).str(" differs from physical ").hex(paddr).str(" (guests run identity-mapped)");
        return false;
    }
    if (memsz > memory_size || paddr > memory_size - memsz) {
        refuse(out).str("segment ").dec(index).str(": GPA ").hex(paddr).str(" + ").hex(memsz).str(" bytes lies outside the guest's ").hex(memory_size).str(" bytes of memory");
        return false;
    }
    if (paddr < low) {
        refuse(out).str("segment ").dec(index).str(": GPA ").hex(paddr).str(" is below ").hex(low).str(", where ").str(rules.low_owner);
        return false;
    }
    if (paddr + memsz > high) {
        refuse(out).str("segment ").dec(index).str(": GPA ").hex(paddr).str(" + ").hex(memsz).str(" bytes reaches ").str(rules.high_owner).str(" at ").hex(high);
        return false;
    }
    ElfSegment& s = out.segments[out.segment_count++];
    s.gpa = paddr;
    s.file_offset = offset;
    s.file_size = filesz;
    s.memory_size = memsz;
    s.executable = (read_le(p + phdr::flags, 4) & pf_x) != 0;
    return true;
}

// GNU ld (with -z separate-code, its default on x86-64) puts the ELF and program headers in a
// read-only PT_LOAD of their own, one page below the first section: with `-Ttext=0x10000` that is
// GPA 0xf000, inside the hypervisor's low area. Such a segment carries no code or data, so it is
// not loaded; `headers_end` is where the program headers end in the file.
bool is_headers_only(const std::uint8_t* p, std::uint64_t headers_end) {
    const std::uint64_t filesz = read_le(p + phdr::filesz, 8);
    return read_le(p + phdr::offset, 8) == 0 && filesz == read_le(p + phdr::memsz, 8) && filesz <= headers_end &&
           (read_le(p + phdr::flags, 4) & (pf_x | pf_w)) == 0;
}

bool check_overlaps(ElfImage& out) {
    for (std::size_t i = 0; i < out.segment_count; ++i) {
        for (std::size_t j = i + 1; j < out.segment_count; ++j) {
            const ElfSegment& a = out.segments[i];
            const ElfSegment& b = out.segments[j];
            // Both ranges are inside guest memory already: the sums cannot overflow.
            if (a.gpa < b.gpa + b.memory_size && b.gpa < a.gpa + a.memory_size) {
                const std::uint64_t ga = a.gpa, gb = b.gpa;
                refuse(out).str("loadable segments at GPA ").hex(ga).str(" and ").hex(gb).str(" overlap");
                return false;
            }
        }
    }
    return true;
}

void parse_elf(const std::uint8_t* bytes, std::size_t size, std::uint64_t memory_size, const ElfRules& rules,
               ElfImage& out) {
    out = ElfImage{};
    if (bytes == nullptr) size = 0;
    if (!check_header(bytes, size, out)) return;
    if (memory_size < metronome::abi::min_memory_size) {
        refuse(out).str("guest memory of ").hex(memory_size).str(" bytes is below the 1 MiB minimum");
        return;
    }
    const std::uint64_t phoff = read_le(bytes + ehdr::phoff, 8);
    const std::uint64_t phnum = read_le(bytes + ehdr::phnum, 2);
    const std::uint64_t phentsize = read_le(bytes + ehdr::phentsize, 2);
    if (phnum == 0 || phnum == pn_xnum) {
        refuse(out).str(phnum == 0 ? "no program headers" : "extended program-header numbering is not supported");
        return;
    }
    if (phentsize != phdr::size) {
        refuse(out).str("program header size ").dec(phentsize).str(", expected 56");
        return;
    }
    if (!inside(phoff, phnum * phdr::size, size)) {
        refuse(out).str("program headers (offset ").hex(phoff).str(", ").dec(phnum).str(" entries) lie outside the ").dec(size).str("-byte file");
        return;
    }
    const std::uint64_t headers_end = phoff + phnum * phdr::size;  // inside the file: checked above
    for (unsigned i = 0; i < phnum; ++i) {
        const std::uint8_t* p = bytes + phoff + i * phdr::size;
        const std::uint64_t type = read_le(p + phdr::type, 4);
        if (type == pt_interp || type == pt_tls) {
            refuse(out).str(type == pt_interp ? "asks for a program interpreter (link statically)"
                                              : "has thread-local storage (PT_TLS), which a guest cannot have");
            return;
        }
        if (type != pt_load || read_le(p + phdr::memsz, 8) == 0 || is_headers_only(p, headers_end)) continue;
        if (out.segment_count == max_elf_segments) {
            refuse(out).str("more than ").dec(max_elf_segments).str(" loadable segments");
            return;
        }
        if (!check_segment(p, i, size, memory_size, rules, out)) return;
    }
    if (out.segment_count == 0) {
        refuse(out).str("no loadable segment");
        return;
    }
    if (!check_overlaps(out)) return;
    const std::uint64_t entry = read_le(bytes + ehdr::entry, 8);
    for (std::size_t i = 0; i < out.segment_count; ++i) {
        const ElfSegment& s = out.segments[i];
        if (s.executable && entry >= s.gpa && entry - s.gpa < s.file_size) {
            out.entry = entry;
            out.ok = true;
            return;
        }
    }
    refuse(out).str("entry point ").hex(entry).str(" is not inside the loaded bytes of an executable segment");
}

} // namespace

void parse_elf_image(const std::uint8_t* bytes, std::size_t size, std::uint64_t memory_size, ElfImage& out) {
    ElfRules rules;
    rules.low = metronome::abi::image_gpa;
    rules.high = memory_size > metronome::abi::stack_reserve ? memory_size - metronome::abi::stack_reserve : 0;
    rules.low_owner = "the hypervisor puts page tables, GDT and start-info page";
    rules.high_owner = "the stack reserve";
    parse_elf(bytes, size, memory_size, rules, out);
}

void parse_elf_kernel(const std::uint8_t* bytes, std::size_t size, std::uint64_t memory_size,
                      std::uint64_t lowest_gpa, ElfImage& out) {
    ElfRules rules;
    rules.identity = false;
    rules.low = lowest_gpa;
    rules.high = memory_size;
    rules.low_owner = "the boot protocol's structures and the legacy first MiB are";
    rules.high_owner = "the end of the guest's memory";
    parse_elf(bytes, size, memory_size, rules, out);
}

bool load_elf_image(std::uint8_t* memory, std::uint64_t memory_size, const std::uint8_t* bytes, std::size_t size,
                    const ElfImage& image) {
    if (!image.ok || image.segment_count > max_elf_segments) return false;
    for (std::size_t i = 0; i < image.segment_count; ++i) {
        const ElfSegment& s = image.segments[i];
        if (s.file_size > s.memory_size || !inside(s.gpa, s.memory_size, memory_size) ||
            !inside(s.file_offset, s.file_size, size))
            return false;
    }
    for (std::size_t i = 0; i < image.segment_count; ++i) {
        const ElfSegment& s = image.segments[i];
        std::uint8_t* to = memory + s.gpa;
        const std::uint8_t* from = bytes + s.file_offset;
        for (std::uint64_t b = 0; b < s.file_size; ++b) to[b] = from[b];
        for (std::uint64_t b = s.file_size; b < s.memory_size; ++b) to[b] = 0;
    }
    return true;
}

} // namespace vmx
