// Little-endian loads and stores of 1..8 bytes through byte pointers: guest memory, page and
// descriptor tables, file images. Byte by byte, so no alignment or aliasing assumptions and no
// libc. Callers check the bounds.
#pragma once
#include <cstdint>

namespace vmx {

constexpr std::uint64_t load_le(const std::uint8_t* p, unsigned bytes) {
    std::uint64_t v = 0;
    for (unsigned i = 0; i < bytes; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
    return v;
}

constexpr void store_le(std::uint8_t* p, std::uint64_t v, unsigned bytes) {
    for (unsigned i = 0; i < bytes; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

} // namespace vmx
