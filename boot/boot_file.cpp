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

const char* boot_file_problem(BootFile status) {
    switch (status) {
    case BootFile::ok: return "read";
    case BootFile::missing: return "not found on the boot volume";
    case BootFile::unreadable: return "cannot be read from the boot volume";
    case BootFile::directory: return "is a directory, not a file";
    case BootFile::too_large: return "is too large";
    }
    return "?";
}

BootFile read_boot_file(const CHAR16* path, char* buf, std::size_t cap, std::size_t* len) {
    *len = 0;
    EFI_LOADED_IMAGE* image = loaded_image();
    if (image == nullptr) return BootFile::unreadable;
    // The file system that holds metronome.efi: DeviceHandle is the partition it came from.
    EFI_GUID fs_guid = EFI_SIMPLE_FILE_SYSTEM_PROTOCOL_GUID;
    void* protocol = nullptr;
    EFI_BOOT_SERVICES* bs = firmware.system_table->BootServices;
    if (failed(efi_call(bs->HandleProtocol, image->DeviceHandle, &fs_guid, &protocol)))
        return BootFile::unreadable;
    auto* fs = static_cast<EFI_SIMPLE_FILE_SYSTEM_PROTOCOL*>(protocol);
    FileCloser root;
    if (failed(efi_call(fs->OpenVolume, fs, &root.handle))) return BootFile::unreadable;
    FileCloser file;
    const EFI_STATUS opened = efi_call(root.handle->Open, root.handle, &file.handle, const_cast<CHAR16*>(path),
                                       UINT64{EFI_FILE_MODE_READ}, UINT64{0});
    if (opened == EFI_NOT_FOUND) return BootFile::missing;
    if (failed(opened)) return BootFile::unreadable;
    // A directory opens like a file, and Read then lists its entries: ask what it is first.
    EFI_GUID info_guid = EFI_FILE_INFO_ID;
    alignas(8) unsigned char info_bytes[SIZE_OF_EFI_FILE_INFO + 512];
    UINTN info_size = sizeof info_bytes;
    if (failed(efi_call(file.handle->GetInfo, file.handle, &info_guid, &info_size, static_cast<void*>(info_bytes))))
        return BootFile::unreadable;
    const auto* info = reinterpret_cast<const EFI_FILE_INFO*>(info_bytes);
    if ((info->Attribute & EFI_FILE_DIRECTORY) != 0) return BootFile::directory;
    if (info->FileSize > cap) {
        *len = static_cast<std::size_t>(info->FileSize > SIZE_MAX ? SIZE_MAX : info->FileSize);
        return BootFile::too_large;
    }
    // Read may return fewer bytes than asked: loop until end of file (a read of 0 bytes).
    while (*len < cap) {
        UINTN chunk = cap - *len;
        if (failed(efi_call(file.handle->Read, file.handle, &chunk, buf + *len))) return BootFile::unreadable;
        if (chunk == 0) return BootFile::ok;
        *len += chunk;
    }
    // Full buffer: it fits only if nothing is left.
    char probe;
    UINTN one = 1;
    if (failed(efi_call(file.handle->Read, file.handle, &one, static_cast<void*>(&probe))))
        return BootFile::unreadable;
    return one == 0 ? BootFile::ok : BootFile::too_large;
}

} // namespace boot
