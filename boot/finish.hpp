// The end of a run.
#pragma once

namespace boot {

// Powers the machine off, trying each platform's way in turn: Bochs' shutdown port, QEMU's
// isa-debug-exit device, then UEFI ResetSystem (QEMU without the device, real hardware).
// Returns only if all of them failed; the caller then returns to the firmware.
void shut_down();

} // namespace boot
