// How this run ends: return to the firmware (the default, right for a real machine) or shut the
// machine down (what an emulator run wants, so Bochs and QEMU exit). Read from the load options
// (`on_finish=shutdown`, e.g. from the UEFI shell) and from `\metronome.cfg` on the boot volume,
// since OVMF's boot manager passes no options to \EFI\BOOT\BOOTX64.EFI. Load options win.
//
// A minimal scan for this one key until the full configuration (vmx/config.hpp) is wired in: it
// would reject a file that only says `on_finish = shutdown` (no guests), which is exactly what
// the host tool writes for a capability run.
#pragma once
#include <cstddef>

#include "vmx/config.hpp"

namespace boot {

struct RunOptions {
    vmx::OnFinish on_finish = vmx::OnFinish::return_to_firmware;
    const char* on_finish_source = "default"; // "load options", "\\metronome.cfg" or "default"
    bool config_file_found = false;
    std::size_t config_file_size = 0;
};

RunOptions read_run_options();

} // namespace boot
