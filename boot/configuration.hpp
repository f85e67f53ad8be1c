// The configuration of this run: `\metronome.cfg` on the volume metronome.efi came from, then the
// load options (`key=value` words, e.g. from the UEFI shell), parsed by the pure parser
// (vmx/config/config.hpp). A file without guests is valid here: the run then only reports the CPU.
#pragma once
#include <cstddef>

#include "vmx/config/config.hpp"

namespace boot {

struct LoadedConfiguration {
    const vmx::Config* config = nullptr;  // static storage; valid for the whole run
    bool file_found = false;
    std::size_t file_size = 0;
    bool options_used = false;
    bool ok = false;
    char error[320] = {};                 // one line naming the source, line and key
};

LoadedConfiguration load_configuration();

} // namespace boot
