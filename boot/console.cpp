#include "boot/console.hpp"

#include "boot/efi.hpp"
#include "boot/serial.hpp"
#include "vmx/lib/text.hpp"

#include <cstdint>

namespace boot {
namespace {

std::size_t length(const char* s) {
    std::size_t n = 0;
    while (s[n] != '\0')
        ++n;
    return n;
}

// Decodes one UTF-8 sequence at s[i] into a UCS-2 character; characters outside the Basic
// Multilingual Plane and malformed bytes become '?' (UEFI consoles only take UCS-2).
CHAR16 decode_utf8(const char* s, std::size_t n, std::size_t& i) {
    const auto b0 = static_cast<std::uint8_t>(s[i++]);
    if (b0 < 0x80) return b0;
    unsigned extra = 0;
    std::uint32_t cp = 0;
    if ((b0 & 0xe0) == 0xc0) {
        extra = 1;
        cp = b0 & 0x1fu;
    } else if ((b0 & 0xf0) == 0xe0) {
        extra = 2;
        cp = b0 & 0x0fu;
    } else {
        return u'?';
    }
    for (unsigned k = 0; k < extra; ++k) {
        if (i >= n || (static_cast<std::uint8_t>(s[i]) & 0xc0) != 0x80) return u'?';
        cp = (cp << 6) | (static_cast<std::uint8_t>(s[i++]) & 0x3fu);
    }
    return static_cast<CHAR16>(cp);
}

// Where UEFI text goes. OVMF (and firmware with console redirection) mirrors ConOut onto COM1,
// which we already drive directly: writing to ConOut would put every line on the serial port
// twice, interleaved with the terminal driver's escape sequences. So we write to each console
// device (screen) whose device path has no UART node, and to ConOut itself only when the
// consoles cannot be told apart.
struct ConsoleTargets {
    SIMPLE_TEXT_OUTPUT_INTERFACE* out[4] = {};
    unsigned count = 0;
    bool probed = false;
};
ConsoleTargets targets;

bool has_uart_node(const EFI_DEVICE_PATH* node) {
    // A device path is a list of variable-length nodes ended by type 0x7F; a zero length would
    // loop forever on a corrupt path, so it ends the walk too.
    for (unsigned i = 0; i < 64 && node->Type != END_DEVICE_PATH_TYPE; ++i) {
        if (node->Type == MESSAGING_DEVICE_PATH && node->SubType == MSG_UART_DP) return true;
        const unsigned len = node->Length[0] | (static_cast<unsigned>(node->Length[1]) << 8);
        if (len < sizeof(EFI_DEVICE_PATH)) return false;
        node = reinterpret_cast<const EFI_DEVICE_PATH*>(reinterpret_cast<const UINT8*>(node) + len);
    }
    return false;
}

void probe_consoles(EFI_SYSTEM_TABLE* st) {
    targets.probed = true;
    EFI_BOOT_SERVICES* bs = st->BootServices;
    EFI_GUID text_out_guid = EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL_GUID;
    EFI_GUID device_path_guid = EFI_DEVICE_PATH_PROTOCOL_GUID;
    UINTN count = 0;
    EFI_HANDLE* handles = nullptr;
    if (failed(efi_call(bs->LocateHandleBuffer, ByProtocol, &text_out_guid,
                        static_cast<void*>(nullptr), &count, &handles))) {
        targets.out[0] = st->ConOut; // cannot tell the consoles apart: use them all
        targets.count = 1;
        return;
    }
    bool saw_serial = false;
    for (UINTN i = 0; i < count; ++i) {
        void* path = nullptr;
        // Handles without a device path are the firmware's splitters (ConOut, StdErr) that fan
        // out to the devices we look at one by one.
        if (failed(efi_call(bs->HandleProtocol, handles[i], &device_path_guid, &path))) continue;
        if (has_uart_node(static_cast<const EFI_DEVICE_PATH*>(path))) {
            saw_serial = true;
            continue;
        }
        void* out = nullptr;
        if (failed(efi_call(bs->HandleProtocol, handles[i], &text_out_guid, &out))) continue;
        if (targets.count < sizeof(targets.out) / sizeof(targets.out[0]))
            targets.out[targets.count++] = static_cast<SIMPLE_TEXT_OUTPUT_INTERFACE*>(out);
    }
    efi_call(bs->FreePool, static_cast<void*>(handles));
    // Nothing recognisably serial: ConOut cannot duplicate our COM1 output, so use it as is.
    if (!saw_serial) {
        targets.out[0] = st->ConOut;
        targets.count = 1;
    }
}

void output(const CHAR16* text) {
    for (unsigned k = 0; k < targets.count; ++k)
        efi_call(targets.out[k]->OutputString, targets.out[k], const_cast<CHAR16*>(text));
}

// The firmware's screen console: converted in chunks on the stack, no allocation, any length.
void screen_write(const char* s, std::size_t n) {
    EFI_SYSTEM_TABLE* st = firmware.system_table;
    if (st == nullptr || st->ConOut == nullptr) return;
    if (!targets.probed) probe_consoles(st);
    CHAR16 chunk[128];
    std::size_t used = 0;
    std::size_t i = 0;
    while (i < n) {
        const bool newline = s[i] == '\n';
        const CHAR16 c = decode_utf8(s, n, i);
        if (newline) chunk[used++] = u'\r';
        chunk[used++] = c;
        if (used >= sizeof(chunk) / sizeof(chunk[0]) - 3 || i >= n) {
            chunk[used] = 0;
            output(chunk);
            used = 0;
        }
    }
}

bool ends_line(const char* s, std::size_t n) {
    return n > 0 && s[n - 1] == '\n';
}

} // namespace

void print(const char* s, std::size_t n) {
    serial::queue(s, n);
}

void print(const char* s) {
    print(s, length(s));
}

void print_line(const char* s) {
    const std::size_t n = length(s);
    print(s, n);
    if (!ends_line(s, n)) print("\n", 1);
}

void print_line(const vmx::Text& text) {
    print(text.c_str(), text.size());
    if (!ends_line(text.c_str(), text.size())) print("\n", 1);
}

void show_line(const char* s) {
    const std::size_t n = length(s);
    screen_write(s, n);
    if (!ends_line(s, n)) screen_write("\n", 1);
}

void print_error(const char* s) {
    print_line(s);
    show_line(s);
}

void print_error(const vmx::Text& text) {
    print_error(text.c_str());
}

void finish_output() {
    serial::flush();
}

} // namespace boot
