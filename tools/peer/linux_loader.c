/* linux-loader.efi: boots the Linux kernel's EFI stub straight from OVMF's boot manager, so the
 * peer run (tools/metronome peer kvm) skips the EFI shell and its 5-second startup.nsh wait.
 *
 * Installed as \EFI\BOOT\BOOTX64.EFI next to \vmlinuz, \initrd.img and \cmdline.txt on the same
 * FAT volume. It reads the kernel command line from \cmdline.txt (ASCII, one line), loads
 * \vmlinuz with LoadImage() through a file device path on its own volume (so the stub's
 * `initrd=\initrd.img` finds the file on that volume), gives it the command line as LoadOptions
 * (UCS-2, as the stub expects) and starts it. A failure is printed and ends Bochs through its
 * shutdown port, so the host tool reports it at once instead of waiting for a time-out.
 *
 * gnu-efi with Debian's System V crt0: firmware calls go through uefi_call_wrapper
 * (tools/PLATFORMS.md, "GNU-EFI").
 */
#include <efi.h>
#include <efilib.h>

#define CMDLINE_MAX 1024

static const CHAR16 kernel_path[] = L"\\vmlinuz";
static const CHAR16 cmdline_path[] = L"\\cmdline.txt";

/* Bochs: the bytes "Shutdown" written to port 0x8900 end the simulation. */
static void bochs_shutdown(void) {
    const char* s = "Shutdown";
    for (; *s; ++s)
        __asm__ volatile("outb %0, %1" : : "a"(*s), "Nd"((UINT16)0x8900));
}

static EFI_STATUS fail(const CHAR16* what, EFI_STATUS status) {
    Print(L"linux-loader: %s: %r\n", what, status);
    bochs_shutdown();
    return status;
}

/* Reads \cmdline.txt from `root` into `out` as UCS-2, without the line end. */
static EFI_STATUS read_cmdline(EFI_FILE_HANDLE root, CHAR16* out, UINTN max_chars) {
    EFI_FILE_HANDLE file;
    EFI_STATUS status = uefi_call_wrapper(root->Open, 5, root, &file, (CHAR16*)cmdline_path,
                                          EFI_FILE_MODE_READ, 0ULL);
    if (EFI_ERROR(status)) return status;
    static CHAR8 text[CMDLINE_MAX];
    UINTN size = sizeof text - 1;
    status = uefi_call_wrapper(file->Read, 3, file, &size, text);
    uefi_call_wrapper(file->Close, 1, file);
    if (EFI_ERROR(status)) return status;
    UINTN n = 0;
    for (UINTN i = 0; i < size && n + 1 < max_chars; ++i) {
        if (text[i] == '\n' || text[i] == '\r') break;
        out[n++] = (CHAR16)text[i];
    }
    out[n] = 0;
    return n == 0 ? EFI_LOAD_ERROR : EFI_SUCCESS;
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE* system_table) {
    InitializeLib(image, system_table);
    /* OVMF arms a 5-minute watchdog for a boot option; the kernel's boot is ours to time. */
    uefi_call_wrapper(BS->SetWatchdogTimer, 4, 0, 0, 0, NULL);

    EFI_LOADED_IMAGE* self;
    EFI_STATUS status = uefi_call_wrapper(BS->HandleProtocol, 3, image, &LoadedImageProtocol,
                                          (void**)&self);
    if (EFI_ERROR(status)) return fail(L"no loaded-image protocol on this image", status);
    EFI_FILE_HANDLE root = LibOpenRoot(self->DeviceHandle);
    if (root == NULL) return fail(L"cannot open this image's volume", EFI_NOT_FOUND);

    static CHAR16 cmdline[CMDLINE_MAX];
    status = read_cmdline(root, cmdline, CMDLINE_MAX);
    if (EFI_ERROR(status)) return fail(L"cannot read \\cmdline.txt", status);

    EFI_DEVICE_PATH* path = FileDevicePath(self->DeviceHandle, (CHAR16*)kernel_path);
    if (path == NULL) return fail(L"cannot build the device path of \\vmlinuz", EFI_OUT_OF_RESOURCES);
    EFI_HANDLE kernel;
    status = uefi_call_wrapper(BS->LoadImage, 6, FALSE, image, path, NULL, 0, &kernel);
    if (EFI_ERROR(status)) return fail(L"LoadImage(\\vmlinuz)", status);

    EFI_LOADED_IMAGE* loaded;
    status = uefi_call_wrapper(BS->HandleProtocol, 3, kernel, &LoadedImageProtocol,
                               (void**)&loaded);
    if (EFI_ERROR(status)) return fail(L"no loaded-image protocol on the kernel", status);
    loaded->LoadOptions = cmdline;
    loaded->LoadOptionsSize = (UINT32)((StrLen(cmdline) + 1) * sizeof(CHAR16));

    Print(L"linux-loader: starting \\vmlinuz %s\n", cmdline);
    status = uefi_call_wrapper(BS->StartImage, 3, kernel, NULL, NULL);
    return fail(L"the kernel returned from StartImage", status);
}
