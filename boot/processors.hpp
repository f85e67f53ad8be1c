// The machine's processors, through the firmware's MP services (EFI_MP_SERVICES_PROTOCOL, UEFI
// Platform Initialization specification, volume 2, "MP Services Protocol"): how many there are,
// which are enabled, and starting a procedure on one of them. The `cpu` key numbers processors
// as the firmware does (its processor number; 0 is the boot CPU on every firmware we know, and
// the code does not assume it). Without the protocol the machine has one processor: the boot CPU.
#pragma once
#include <cstddef>
#include <cstdint>

#include "vmx/config/config.hpp"
#include "vmx/lib/cpu_limit.hpp"
#include "vmx/lib/text.hpp"

namespace boot {

struct ProcessorInfo {
    std::uint64_t apic_id = 0;
    bool boot = false, enabled = false, healthy = false;
};

struct Processors {
    bool protocol = false;         // MP services were found
    std::size_t count = 1;         // processors the firmware numbers (at most vmx::max_cpus of them)
    std::size_t firmware_count = 1; // all it has
    std::size_t boot_number = 0;   // the boot CPU's number
    ProcessorInfo cpu[vmx::max_cpus];
};

// Read once; later calls return the same.
const Processors& processors();

// Whether every guest's `cpu` is a processor that can run it (it exists, is enabled and
// healthy); false with the first that is not, in words.
bool guest_cpus_exist(const vmx::Config& config, char* error, std::size_t size);
// One line for the console: how many processors, and which one is the boot CPU.
void describe_processors(vmx::Text& out);

// Starts procedure(argument) on processor `number` (not the boot CPU) and returns at once; false
// with `status` the firmware's code when it refused.
bool start_processor(std::size_t number, void (*procedure)(void*), void* argument, std::uint64_t& status);
// Called below TPL_HIGH_LEVEL once every started procedure has returned: waits until the firmware
// has seen each of them end, so that its MP services are idle again when Metronome returns.
void release_processors();

} // namespace boot
