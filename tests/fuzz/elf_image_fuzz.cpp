// libFuzzer target: the guest-image validator and loader (vmx/guest/elf_image.cpp) on arbitrary bytes.
// The guest memory size (1..4 MiB) comes from the first byte. For every accepted image the
// promises of vmx/guest/elf_image.hpp are checked: segments inside [0x10000, memory - 64 KiB), no
// overlap, the entry inside an executable segment's file bytes; images of up to 256 KiB of
// segments are also loaded, and guard bytes at both ends of the low area and of the stack
// reserve must survive.
#include "vmx/guest/elf_image.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

constexpr std::uint64_t max_memory = 4ull << 20;
std::uint8_t g_memory[max_memory];

void require(bool condition) {
    if (!condition) std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // 1..4 MiB of guest memory, chosen by the input so odd sizes are covered.
    const std::uint64_t memory_size = size == 0 ? (1ull << 20) : ((data[0] & 3u) + 1ull) << 20;
    vmx::ElfImage image;
    vmx::parse_elf_image(data, size, memory_size, image);
    if (!image.ok) {
        require(image.error[0] != '\0' && image.segment_count == 0);
        require(std::memchr(image.error, '\n', sizeof image.error) == nullptr);
        return 0;
    }
    require(image.segment_count >= 1 && image.segment_count <= vmx::max_elf_segments);
    bool entry_found = false;
    for (std::size_t i = 0; i < image.segment_count; ++i) {
        const vmx::ElfSegment& s = image.segments[i];
        require(s.gpa >= 0x10000 && s.gpa <= memory_size - 0x10000 && s.memory_size <= memory_size - 0x10000 - s.gpa);
        require(s.file_size <= s.memory_size && s.file_offset <= size && s.file_size <= size - s.file_offset);
        for (std::size_t j = i + 1; j < image.segment_count; ++j) {
            const vmx::ElfSegment& t = image.segments[j];
            require(s.gpa + s.memory_size <= t.gpa || t.gpa + t.memory_size <= s.gpa);
        }
        if (s.executable && image.entry >= s.gpa && image.entry < s.gpa + s.file_size) entry_found = true;
    }
    require(entry_found);
    // Load it (when its segments are small enough to keep the fuzzer fast) between guard bytes:
    // the hypervisor's low 64 KiB and the stack reserve must stay as they were.
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < image.segment_count; ++i) total += image.segments[i].memory_size;
    if (total > (256u << 10)) return 0;
    const std::uint64_t guards[] = {0, 0x10000 - 64, memory_size - 0x10000, memory_size - 64};
    for (std::uint64_t g : guards) std::memset(g_memory + g, 0xa5, 64);
    require(vmx::load_elf_image(g_memory, memory_size, data, size, image));
    for (std::uint64_t g : guards) {
        for (std::uint64_t b = g; b < g + 64; ++b) require(g_memory[b] == 0xa5);
    }
    return 0;
}
