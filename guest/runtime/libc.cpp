// The four memory functions that the compiler may call even in freestanding code (for struct
// copies and for loops it recognises). Byte loops: the guest never moves much memory.
#include <cstddef>

extern "C" {

void* memset(void* dest, int value, std::size_t count);
void* memcpy(void* dest, const void* src, std::size_t count);
void* memmove(void* dest, const void* src, std::size_t count);
int memcmp(const void* a, const void* b, std::size_t count);

void* memset(void* dest, int value, std::size_t count) {
    auto* d = static_cast<volatile unsigned char*>(dest);
    for (std::size_t i = 0; i < count; ++i)
        d[i] = static_cast<unsigned char>(value);
    return dest;
}

void* memcpy(void* dest, const void* src, std::size_t count) {
    auto* d = static_cast<volatile unsigned char*>(dest);
    const auto* s = static_cast<const unsigned char*>(src);
    for (std::size_t i = 0; i < count; ++i)
        d[i] = s[i];
    return dest;
}

void* memmove(void* dest, const void* src, std::size_t count) {
    auto* d = static_cast<volatile unsigned char*>(dest);
    const auto* s = static_cast<const unsigned char*>(src);
    if (d < s) {
        for (std::size_t i = 0; i < count; ++i)
            d[i] = s[i];
    } else {
        for (std::size_t i = count; i > 0; --i)
            d[i - 1] = s[i - 1];
    }
    return dest;
}

int memcmp(const void* a, const void* b, std::size_t count) {
    const auto* x = static_cast<const unsigned char*>(a);
    const auto* y = static_cast<const unsigned char*>(b);
    for (std::size_t i = 0; i < count; ++i)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

} // extern "C"
