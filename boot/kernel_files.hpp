// Linux guests' files from the ESP: for every guest with `kernel = PATH`, its kernel (a vmlinux
// ELF) and its `initrd`, read from the volume metronome.efi came from and checked for that guest
// (vmx/guest/linux_boot.hpp: an x86-64 kernel that fits its memory at a 2 MiB-aligned address,
// an initrd that fits above it, a command line Linux takes), all before VMX is touched. A file
// several guests name is read once. A problem stops the run with one line naming the guest, the
// file and what is wrong.
#pragma once
#include <cstddef>
#include <cstdint>

#include "vmx/config/config.hpp"

namespace boot {

bool load_kernel_files(const vmx::Config& config, char* error, std::size_t error_capacity);

struct KernelFiles {
    const std::uint8_t* kernel = nullptr;
    std::size_t kernel_size = 0;
    const std::uint8_t* initrd = nullptr; // null: no initrd
    std::size_t initrd_size = 0;
};
// Guest `index`'s files (all null for a guest without a kernel).
KernelFiles kernel_files(std::size_t index);

void release_kernel_files();

} // namespace boot
