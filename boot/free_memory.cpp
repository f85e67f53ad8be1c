#include "boot/free_memory.hpp"

#include "boot/efi.hpp"

namespace boot {

FreeMemory free_memory() {
    alignas(8) static unsigned char map[32 * 1024];
    UINTN size = sizeof map, key = 0, descriptor_size = 0;
    UINT32 version = 0;
    FreeMemory free;
    EFI_BOOT_SERVICES* bs = firmware.system_table->BootServices;
    if (failed(efi_call(bs->GetMemoryMap, &size, reinterpret_cast<EFI_MEMORY_DESCRIPTOR*>(map), &key,
                        &descriptor_size, &version)) || descriptor_size == 0) return free;
    for (UINTN at = 0; at + descriptor_size <= size; at += descriptor_size) {
        EFI_MEMORY_DESCRIPTOR d;
        __builtin_memcpy(&d, map + at, sizeof d);
        if (d.Type != EfiConventionalMemory) continue;
        free.pages += d.NumberOfPages;
        if (d.NumberOfPages > free.largest) free.largest = d.NumberOfPages;
    }
    return free;
}

} // namespace boot
