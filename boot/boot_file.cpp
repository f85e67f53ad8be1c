#include "boot/boot_file.hpp"

namespace boot {
namespace {

// Closes a UEFI file handle at scope exit, whichever way the function returns.
struct FileCloser {
    EFI_FILE_HANDLE handle = nullptr;
    ~FileCloser() {
        if (handle != nullptr) efi_call(handle->Close, handle);
    }
};

} // namespace

EFI_LOADED_IMAGE* loaded_image() {
    EFI_SYSTEM_TABLE* st = firmware.system_table;
    EFI_GUID guid = EFI_LOADED_IMAGE_PROTOCOL_GUID;
    void* protocol = nullptr;
    const EFI_STATUS status =
        efi_call(st->BootServices->HandleProtocol, firmware.image, &guid, &protocol);
    return failed(status) ? nullptr : static_cast<EFI_LOADED_IMAGE*>(protocol);
}

bool read_boot_file(const CHAR16* path, char* buf, std::size_t cap, std::size_t* len) {
    *len = 0;
    EFI_LOADED_IMAGE* image = loaded_image();
    if (image == nullptr) return false;
    // The file system that holds metronome.efi: DeviceHandle is the partition it came from.
    EFI_GUID fs_guid = EFI_SIMPLE_FILE_SYSTEM_PROTOCOL_GUID;
    void* protocol = nullptr;
    EFI_BOOT_SERVICES* bs = firmware.system_table->BootServices;
    if (failed(efi_call(bs->HandleProtocol, image->DeviceHandle, &fs_guid, &protocol)))
        return false;
    auto* fs = static_cast<EFI_SIMPLE_FILE_SYSTEM_PROTOCOL*>(protocol);
    FileCloser root;
    if (failed(efi_call(fs->OpenVolume, fs, &root.handle))) return false;
    FileCloser file;
    if (failed(efi_call(root.handle->Open, root.handle, &file.handle, const_cast<CHAR16*>(path),
                        UINT64{EFI_FILE_MODE_READ}, UINT64{0})))
        return false;
    // Read may return fewer bytes than asked: loop until end of file (a read of 0 bytes).
    while (*len < cap) {
        UINTN chunk = cap - *len;
        if (failed(efi_call(file.handle->Read, file.handle, &chunk, buf + *len))) return false;
        if (chunk == 0) return true;
        *len += chunk;
    }
    // Full buffer: it fits only if nothing is left.
    char probe;
    UINTN one = 1;
    if (failed(efi_call(file.handle->Read, file.handle, &one, static_cast<void*>(&probe))))
        return false;
    return one == 0;
}

} // namespace boot
