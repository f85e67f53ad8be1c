// Reading a file from the volume metronome.efi was loaded from (the ESP on a real machine, the
// FAT image in Bochs and QEMU): the configuration now, guest images later.
#pragma once
#include <cstddef>

#include "boot/efi.hpp"

namespace boot {

// Reads the whole file `path` (UEFI style: "\\metronome.cfg", backslashes, from the volume's
// root) into buf. True with *len = the size when it exists and fits in cap bytes; false when
// it is missing, unreadable or larger than cap (then *len says how much was read).
bool read_boot_file(const CHAR16* path, char* buf, std::size_t cap, std::size_t* len);

// The LoadedImage protocol of metronome.efi itself (load options, device handle), or nullptr.
EFI_LOADED_IMAGE* loaded_image();

} // namespace boot
