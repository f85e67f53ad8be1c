// The C functions a freestanding compiler may emit calls to on its own (struct copies, zeroing
// arrays, comparisons): GCC documents that memcpy, memmove, memset and memcmp must exist even
// with -ffreestanding. Written with string instructions in inline assembly so the optimiser can
// never turn a byte loop back into a call to the function being defined.
#include <cstddef>

extern "C" {

void* memcpy(void* dest, const void* src, std::size_t n);
void* memmove(void* dest, const void* src, std::size_t n);
void* memset(void* dest, int c, std::size_t n);
int memcmp(const void* a, const void* b, std::size_t n);

void* memcpy(void* dest, const void* src, std::size_t n) {
    void* d = dest;
    asm volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
    return dest;
}

void* memmove(void* dest, const void* src, std::size_t n) {
    auto* d = static_cast<unsigned char*>(dest);
    const auto* s = static_cast<const unsigned char*>(src);
    if (d <= s || d >= s + n) return memcpy(dest, src, n);
    // Overlap with the destination above the source: copy backwards (DF=1), then restore DF=0,
    // which both the SysV and the UEFI calling conventions require at every call boundary.
    d += n - 1;
    s += n - 1;
    asm volatile("std\n\trep movsb\n\tcld" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    return dest;
}

void* memset(void* dest, int c, std::size_t n) {
    void* d = dest;
    asm volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
    return dest;
}

int memcmp(const void* a, const void* b, std::size_t n) {
    const auto* x = static_cast<const unsigned char*>(a);
    const auto* y = static_cast<const unsigned char*>(b);
    for (std::size_t i = 0; i < n; ++i) {
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    }
    return 0;
}

} // extern "C"
