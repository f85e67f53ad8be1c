#include "boot/finish.hpp"

#include "boot/efi.hpp"
#include "vmx/hw/port_io.hpp"

#include <cstdint>

namespace boot {
namespace {

// Bochs: writing the string "Shutdown" to this port, byte by byte, ends the simulation.
constexpr std::uint16_t bochs_shutdown_port = 0x8900;
// QEMU `-device isa-debug-exit,iobase=0xf4,iosize=0x04`: a write of V exits QEMU with status
// (V << 1) | 1, so V = 1 gives 3, which the host tool reads as "the run reached its end".
constexpr std::uint16_t qemu_debug_exit_port = 0xf4;
constexpr std::uint8_t qemu_exit_finished = 1;

} // namespace

void shut_down() {
    // Each emulator ignores the other's port. These writes happen only when the configuration
    // asked for a shutdown (on_finish = shutdown), which is meant for emulator runs.
    for (const char* s = "Shutdown"; *s != '\0'; ++s)
        vmx::hw::outb(bochs_shutdown_port, static_cast<std::uint8_t>(*s));
    vmx::hw::outb(qemu_debug_exit_port, qemu_exit_finished);
    EFI_RUNTIME_SERVICES* rt = firmware.system_table->RuntimeServices;
    efi_call(rt->ResetSystem, EfiResetShutdown, EFI_STATUS{EFI_SUCCESS}, UINTN{0},
             static_cast<CHAR16*>(nullptr));
}

} // namespace boot
