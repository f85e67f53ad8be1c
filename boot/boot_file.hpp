// Reading a file from the volume metronome.efi was loaded from (the ESP on a real machine, the
// FAT image in Bochs and QEMU): the configuration now, guest images later.
#pragma once
#include <cstddef>
#include <cstdint>

#include "boot/efi.hpp"

namespace boot {

enum class BootFile : std::uint8_t { ok, missing, unreadable, directory, too_large };
// The problem in words ("is a directory, not a file"), for one error line.
const char* boot_file_problem(BootFile status);

// Reads the whole file `path` (UEFI style: "\\metronome.cfg", backslashes, from the volume's
// root) into buf: `ok` with *len = its size when it is a file that fits in cap bytes; else why
// not (a directory is told apart from a file before anything is read from it).
BootFile read_boot_file(const CHAR16* path, char* buf, std::size_t cap, std::size_t* len);

// The LoadedImage protocol of metronome.efi itself (load options, device handle), or nullptr.
EFI_LOADED_IMAGE* loaded_image();

} // namespace boot
