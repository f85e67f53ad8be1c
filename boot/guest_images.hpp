// Guest images from the ESP: for every guest whose `image` is a path (`image = \guests\a.elf`),
// the file is read from the volume metronome.efi came from and validated as an ELF64 guest image
// (vmx/guest/elf_image.hpp) for that guest's memory size, all before VMX is touched. A missing, too
// large or malformed file stops the run with one line naming the guest, the file and the problem,
// like a bad configuration: no guest runs. Kernel guests' files are boot/kernel_files.hpp's.
#pragma once
#include <cstddef>
#include <cstdint>

#include "vmx/config/config.hpp"

namespace boot {

// Reads and validates every image file of `config`; false with `error` (one line) otherwise.
// Prints one line per image file read. The bytes stay in UEFI pages until release_guest_images.
bool load_guest_images(const vmx::Config& config, char* error, std::size_t error_capacity);

// The bytes of guest `index`'s image file, or null (and size 0) for a built-in image.
const std::uint8_t* guest_image_file(std::size_t index, std::size_t* size);

// Gives every page back to the firmware.
void release_guest_images();

} // namespace boot
