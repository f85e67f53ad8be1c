// The one door to UEFI. Only boot/ includes this file; the pure core never sees a UEFI type.
//
// gnu-efi and C++: gnu-efi's headers come in as system headers (-isystem, so its C-style casts
// do not trip our -Wold-style-cast), and we do not use its `uefi_call_wrapper`. Without
// GNU_EFI_USE_MS_ABI (which Debian's crt0 forbids: it calls efi_main with the SysV convention)
// that macro passes the firmware function pointer to `efi_callN(void*, UINT64...)`, and C++ has
// no implicit conversion from a function pointer to void*: every use is a compile error, and it
// would flatten every argument to UINT64 anyway. `efi_call` below does the same job with the
// argument types checked: it calls the header's function pointer through an identical type that
// carries the Microsoft x64 calling convention the firmware really uses.
#pragma once
#include <cstddef>

#include <efi.h>

namespace boot {

template <typename R, typename... Params, typename... Args>
inline R efi_call(R (*fn)(Params...), Args... args) {
    using MsAbiFn = R(__attribute__((ms_abi))*)(Params...);
    return reinterpret_cast<MsAbiFn>(fn)(args...);
}

// gnu-efi's EFI_ERROR() macro casts C-style inside our code (macro expansions are not covered
// by -isystem); this is the same test: error codes have the top bit set.
constexpr bool failed(EFI_STATUS status) {
    return static_cast<INTN>(status) < 0;
}

// A UTF-16 string constant in the type UEFI wants (CHAR16 is UINT16, not char16_t), built at
// compile time so no constructor runs: `static constexpr Utf16 path{u"\\metronome.cfg"};`.
template <std::size_t N> struct Utf16 {
    CHAR16 text[N];
    consteval Utf16(const char16_t (&s)[N]) : text{} {
        for (std::size_t i = 0; i < N; ++i)
            text[i] = static_cast<CHAR16>(s[i]);
    }
    // UEFI's prototypes take CHAR16* even where they only read the string.
    CHAR16* get() const { return const_cast<CHAR16*>(text); }
};

// Set once by efi_main before anything else runs; boot/ reads it from there on.
struct Firmware {
    EFI_HANDLE image = nullptr;
    EFI_SYSTEM_TABLE* system_table = nullptr;
};
extern Firmware firmware;

} // namespace boot
