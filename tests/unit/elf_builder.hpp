// ELF64 files made to measure for the loader tests: a header, program headers at offset 64 and
// segment bytes after, every file byte 0xcc so that a load can be checked.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace testing_support {

struct Seg {
    std::uint32_t type = 1;   // PT_LOAD
    std::uint32_t flags = 5;  // R | X
    std::uint64_t offset = 0x1000, vaddr = 0x10000, paddr = 0x10000, filesz = 0x100, memsz = 0x100;
};

inline void put(std::vector<std::uint8_t>& b, std::size_t at, std::uint64_t v, unsigned bytes) {
    for (unsigned i = 0; i < bytes; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

// A well-formed ELF64 x86-64 executable.
struct Elf {
    std::vector<Seg> segs = std::vector<Seg>(1);
    std::uint64_t entry = 0x10000;
    std::uint16_t type = 2, machine = 62, phentsize = 56;
    std::uint8_t cls = 2, data = 1;
    std::size_t size = 0x2000;
    std::vector<std::uint8_t> bytes() const {
        std::vector<std::uint8_t> b(size, 0xcc);
        const std::uint8_t ident[16] = {0x7f, 'E', 'L', 'F', cls, data, 1};
        for (std::size_t i = 0; i < 16 && i < b.size(); ++i) b[i] = ident[i];
        if (b.size() < 64) return b;
        put(b, 16, type, 2);
        put(b, 18, machine, 2);
        put(b, 20, 1, 4);
        put(b, 24, entry, 8);
        put(b, 32, 64, 8);
        put(b, 40, 0, 8);
        put(b, 48, 0, 4);
        put(b, 52, 64, 2);
        put(b, 54, phentsize, 2);
        put(b, 56, segs.size(), 2);
        for (std::size_t i = 0; i < segs.size(); ++i) {
            const std::size_t at = 64 + i * 56;
            if (at + 56 > b.size()) break;
            const Seg& s = segs[i];
            put(b, at + 0, s.type, 4);
            put(b, at + 4, s.flags, 4);
            put(b, at + 8, s.offset, 8);
            put(b, at + 16, s.vaddr, 8);
            put(b, at + 24, s.paddr, 8);
            put(b, at + 32, s.filesz, 8);
            put(b, at + 40, s.memsz, 8);
            put(b, at + 48, 0x1000, 8);
        }
        return b;
    }
};

} // namespace testing_support
