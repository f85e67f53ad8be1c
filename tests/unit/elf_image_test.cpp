#include "vmx/guest/elf_image.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "elf_builder.hpp"

using vmx::ElfImage;
using vmx::parse_elf_image;
using testing_support::Elf;
using testing_support::Seg;

namespace {

constexpr std::uint64_t mib = 1ull << 20;
constexpr std::uint64_t two_mib = 2 * mib;

ElfImage parse(const std::vector<std::uint8_t>& b, std::uint64_t memory = two_mib) {
    ElfImage img;
    parse_elf_image(b.data(), b.size(), memory, img);
    return img;
}

// The refusal for `elf`, which must be one line that contains `words`.
std::string refusal(const Elf& elf, std::uint64_t memory = two_mib) {
    const ElfImage img = parse(elf.bytes(), memory);
    CHECK_FALSE(img.ok);
    CHECK(img.segment_count == 0);
    const std::string text = img.error;
    CHECK_FALSE(text.empty());
    CHECK(text.find('\n') == std::string::npos);
    return text;
}

bool has(const std::string& text, const char* words) {
    INFO(text);
    return text.find(words) != std::string::npos;
}

} // namespace

TEST_CASE("a well-formed ELF64 executable is accepted with its segments and entry") {
    Elf elf;
    elf.segs = {Seg{}, Seg{1, 6, 0x1100, 0x20000, 0x20000, 0x80, 0x3000}};
    elf.entry = 0x10010;
    const ElfImage img = parse(elf.bytes());
    REQUIRE(img.ok);
    CHECK(img.entry == 0x10010);
    REQUIRE(img.segment_count == 2);
    CHECK(img.segments[0].gpa == 0x10000);
    CHECK(img.segments[0].executable);
    CHECK(img.segments[1].gpa == 0x20000);
    CHECK(img.segments[1].file_size == 0x80);
    CHECK(img.segments[1].memory_size == 0x3000);
    CHECK_FALSE(img.segments[1].executable);
}

TEST_CASE("loading copies file bytes and zeroes .bss") {
    Elf elf;
    elf.segs = {Seg{}, Seg{1, 6, 0x1100, 0x20000, 0x20000, 0x80, 0x3000}};
    const std::vector<std::uint8_t> b = elf.bytes();
    const ElfImage img = parse(b);
    REQUIRE(img.ok);
    std::vector<std::uint8_t> memory(two_mib, 0x55);
    REQUIRE(vmx::load_elf_image(memory.data(), memory.size(), b.data(), b.size(), img));
    CHECK(memory[0x10000] == 0xcc);
    CHECK(memory[0x100ff] == 0xcc);
    CHECK(memory[0x10100] == 0x55);  // past the segment: untouched
    CHECK(memory[0x2007f] == 0xcc);
    CHECK(memory[0x20080] == 0);     // .bss zeroed
    CHECK(memory[0x22fff] == 0);
    CHECK(memory[0x23000] == 0x55);
    CHECK(memory[0xffff] == 0x55);
}

TEST_CASE("loading refuses an image that was not accepted or does not match the memory") {
    Elf elf;
    const std::vector<std::uint8_t> b = elf.bytes();
    std::vector<std::uint8_t> memory(two_mib, 0);
    ElfImage refused;
    CHECK_FALSE(vmx::load_elf_image(memory.data(), memory.size(), b.data(), b.size(), refused));
    ElfImage img = parse(b);
    REQUIRE(img.ok);
    img.segments[0].gpa = two_mib - 0x80;  // tampered after validation
    CHECK_FALSE(vmx::load_elf_image(memory.data(), memory.size(), b.data(), b.size(), img));
    CHECK(memory[two_mib - 1] == 0);
}

TEST_CASE("bad magic, class, endianness, version, machine and type are refused by name") {
    std::vector<std::uint8_t> b = Elf{}.bytes();
    b[1] = 'X';
    CHECK(has(parse(b).error, "bad magic"));
    CHECK(has(parse(std::vector<std::uint8_t>{}).error, "bad magic"));
    Elf e32;
    e32.cls = 1;
    CHECK(has(refusal(e32), "not ELF64"));
    Elf big;
    big.data = 2;
    CHECK(has(refusal(big), "not little-endian"));
    std::vector<std::uint8_t> v = Elf{}.bytes();
    v[6] = 0;
    CHECK(has(parse(v).error, "unknown ELF version"));
    Elf arm;
    arm.machine = 183;
    CHECK(has(refusal(arm), "not x86-64 (e_machine 183)"));
    Elf pie;
    pie.type = 3;
    CHECK(has(refusal(pie), "position-independent"));
    Elf object;
    object.type = 1;
    CHECK(has(refusal(object), "not an executable (e_type 1)"));
}

TEST_CASE("a truncated file is refused wherever it is cut") {
    CHECK(has(refusal(Elf{.size = 40}), "truncated: 40 bytes"));
    // Cut inside the program headers.
    CHECK(has(refusal(Elf{.size = 100}), "program headers"));
    // Cut inside the segment's bytes.
    CHECK(has(refusal(Elf{.size = 0x1080}), "lie outside the 4224-byte file"));
    // Every shorter prefix of a good image is refused, none read out of bounds (ASan would see).
    const std::vector<std::uint8_t> b = Elf{}.bytes();
    for (std::size_t n = 0; n < 0x1100; ++n) {
        ElfImage img;
        parse_elf_image(b.data(), n, two_mib, img);
        CHECK_FALSE(img.ok);
    }
}

TEST_CASE("program headers: none, wrong size, extended numbering, outside the file") {
    Elf none;
    none.segs.clear();
    CHECK(has(refusal(none), "no program headers"));
    Elf wide;
    wide.phentsize = 64;
    CHECK(has(refusal(wide), "program header size 64"));
    std::vector<std::uint8_t> b = Elf{}.bytes();
    b[32] = 0xf0;  // e_phoff far past the end
    b[39] = 0xff;
    CHECK(has(parse(b).error, "program headers (offset 0xff000000000000f0"));
    std::vector<std::uint8_t> x = Elf{}.bytes();
    x[56] = 0xff;
    x[57] = 0xff;
    CHECK(has(parse(x).error, "extended program-header numbering"));
}

TEST_CASE("zero loadable segments are refused") {
    Elf notes;
    notes.segs = {Seg{4, 4, 0x1000, 0, 0, 0x10, 0x10}, Seg{1, 5, 0x1000, 0x10000, 0x10000, 0, 0}};
    CHECK(has(refusal(notes), "no loadable segment"));
}

TEST_CASE("segments outside guest memory, in the low area or in the stack reserve are refused") {
    Elf above;
    above.segs = {Seg{1, 5, 0x1000, 0x300000, 0x300000, 0x100, 0x100}};
    above.entry = 0x300000;
    CHECK(has(refusal(above), "outside the guest's 0x200000 bytes"));
    Elf low;
    low.segs = {Seg{1, 5, 0x1000, 0x6000, 0x6000, 0x100, 0x100}};
    low.entry = 0x6000;
    CHECK(has(refusal(low), "is below 0x10000"));
    Elf stack;
    stack.segs = {Seg{1, 5, 0x1000, 0x1f0000, 0x1f0000, 0x100, 0x100}};
    stack.entry = 0x1f0000;
    CHECK(has(refusal(stack), "reaches the stack reserve at 0x1f0000"));
    // The last byte below the reserve is fine; with 1 MiB of memory the reserve starts at 0xf0000.
    Elf edge;
    edge.segs = {Seg{1, 5, 0x1000, 0x10000, 0x10000, 0x100, 0x1e0000}};
    CHECK(parse(edge.bytes()).ok);
    CHECK(has(refusal(edge, mib), "outside the guest's 0x100000 bytes"));
    Elf bss;  // a huge .bss that crosses into the reserve
    bss.segs = {Seg{1, 5, 0x1000, 0x10000, 0x10000, 0x100, 0x1e0001}};
    CHECK(has(refusal(bss), "reaches the stack reserve"));
}

TEST_CASE("huge segments: memory size overflow and file size beyond memory size") {
    Elf wrap;
    wrap.segs = {Seg{1, 5, 0x1000, 0x10000, 0x10000, 0x100, ~0ull - 0x100}};
    CHECK(has(refusal(wrap), "lies outside the guest's"));
    Elf wrap2;
    wrap2.segs = {Seg{1, 5, 0x1000, ~0ull - 0x10, ~0ull - 0x10, 0x10, 0x100}};
    wrap2.entry = ~0ull - 0x10;
    CHECK(has(refusal(wrap2), "lies outside the guest's"));
    Elf fat;
    fat.segs = {Seg{1, 5, 0x1000, 0x10000, 0x10000, 0x200, 0x100}};
    CHECK(has(refusal(fat), "file size 0x200 exceeds its memory size 0x100"));
    Elf offset;
    offset.segs = {Seg{1, 5, ~0ull - 0x10, 0x10000, 0x10000, 0x100, 0x100}};
    CHECK(has(refusal(offset), "lie outside the 8192-byte file"));
}

TEST_CASE("overlapping segments are refused, touching ones accepted") {
    Elf overlap;
    overlap.segs = {Seg{}, Seg{1, 6, 0x1100, 0x100ff, 0x100ff, 0x10, 0x10}};
    CHECK(has(refusal(overlap), "loadable segments at GPA 0x10000 and 0x100ff overlap"));
    Elf inside;
    inside.segs = {Seg{1, 6, 0x1100, 0x30000, 0x30000, 0x10, 0x10}, Seg{1, 5, 0x1000, 0x20000, 0x20000, 0x100, 0x20000}};
    inside.entry = 0x20000;
    CHECK(has(refusal(inside), "overlap"));
    Elf touching;
    touching.segs = {Seg{}, Seg{1, 6, 0x1100, 0x10100, 0x10100, 0x10, 0x10}};
    CHECK(parse(touching.bytes()).ok);
}

TEST_CASE("the entry point must be inside the file bytes of an executable loaded segment") {
    Elf outside;
    outside.entry = 0x50000;
    CHECK(has(refusal(outside), "entry point 0x50000 is not inside"));
    Elf data;
    data.segs = {Seg{1, 6, 0x1000, 0x10000, 0x10000, 0x100, 0x100}};  // RW, not X
    CHECK(has(refusal(data), "entry point 0x10000"));
    Elf in_bss;
    in_bss.segs = {Seg{1, 5, 0x1000, 0x10000, 0x10000, 0x100, 0x1000}};
    in_bss.entry = 0x10100;
    CHECK(has(refusal(in_bss), "entry point 0x10100"));
}

TEST_CASE("interpreter, TLS and mismatched virtual addresses are refused") {
    Elf interp;
    interp.segs = {Seg{3, 4, 0x1000, 0, 0, 0x10, 0x10}, Seg{}};
    CHECK(has(refusal(interp), "program interpreter"));
    Elf tls;
    tls.segs = {Seg{}, Seg{7, 4, 0x1000, 0x10000, 0x10000, 0x10, 0x10}};
    CHECK(has(refusal(tls), "thread-local storage"));
    Elf va;
    va.segs = {Seg{1, 5, 0x1000, 0xffffffff80010000ull, 0x10000, 0x100, 0x100}};
    CHECK(has(refusal(va), "differs from physical 0x10000"));
}

TEST_CASE("more loadable segments than the loader holds are refused") {
    Elf many;
    many.segs.clear();
    for (std::uint64_t i = 0; i <= vmx::max_elf_segments; ++i)
        many.segs.push_back(Seg{1, 5, 0x1000, 0x10000 + i * 0x1000, 0x10000 + i * 0x1000, 0x10, 0x10});
    CHECK(has(refusal(many), "more than 16 loadable segments"));
    many.segs.pop_back();
    CHECK(parse(many.bytes()).ok);
}

TEST_CASE("GNU ld's read-only headers segment below the image is not loaded") {
    Elf ld;
    // What `ld -Ttext=0x10000` emits: the ELF and program headers in their own R segment at 0xf000.
    ld.segs = {Seg{1, 4, 0, 0xf000, 0xf000, 64 + 3 * 56, 64 + 3 * 56}, Seg{},
               Seg{0x6474e551, 6, 0, 0, 0, 0, 0}};
    const ElfImage img = parse(ld.bytes());
    REQUIRE(img.ok);
    CHECK(img.segment_count == 1);
    CHECK(img.segments[0].gpa == 0x10000);
    // The same segment carrying more than the headers, or executable, is an ordinary segment.
    ld.segs[0].filesz = ld.segs[0].memsz = 0x200;
    CHECK(has(refusal(ld), "is below 0x10000"));
    ld.segs[0].filesz = ld.segs[0].memsz = 64 + 3 * 56;
    ld.segs[0].flags = 5;
    CHECK(has(refusal(ld), "is below 0x10000"));
}
