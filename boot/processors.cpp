#include "boot/processors.hpp"

#include "boot/efi.hpp"

namespace boot {
namespace {

// The protocol as the PI specification defines it (gnu-efi does not ship it).
constexpr EFI_GUID mp_services_guid = {0x3fdda605, 0xa76e, 0x4f46, {0xad, 0x29, 0x12, 0xf4, 0x53, 0x1b, 0x3d, 0x08}};
constexpr UINT32 processor_as_bsp = 1u << 0, processor_enabled = 1u << 1, processor_healthy = 1u << 2;

struct EfiProcessorInformation {
    UINT64 processor_id;
    UINT32 status_flag;
    UINT32 package, core, thread;      // EFI_CPU_PHYSICAL_LOCATION
    UINT32 extended[6];                // EXTENDED_PROCESSOR_INFORMATION (PI 1.7): room for it
};

using ApProcedure = void(__attribute__((ms_abi))*)(void*);
struct EfiMpServices {
    EFI_STATUS(__attribute__((ms_abi)) * get_number_of_processors)(EfiMpServices*, UINTN*, UINTN*);
    EFI_STATUS(__attribute__((ms_abi)) * get_processor_info)(EfiMpServices*, UINTN, EfiProcessorInformation*);
    void* startup_all_aps;
    EFI_STATUS(__attribute__((ms_abi)) * startup_this_ap)(EfiMpServices*, ApProcedure, UINTN, EFI_EVENT, UINTN,
                                                           void*, BOOLEAN*);
    void* switch_bsp;
    void* enable_disable_ap;
    EFI_STATUS(__attribute__((ms_abi)) * who_am_i)(EfiMpServices*, UINTN*);
};

Processors g_processors;
bool g_read = false;
EfiMpServices* g_mp = nullptr;

// What each started processor runs: the procedure and its argument, called with the System V
// convention Metronome's code uses, from the firmware's Microsoft x64 one.
struct Started {
    void (*procedure)(void*) = nullptr;
    void* argument = nullptr;
    EFI_EVENT done = nullptr;
};
Started g_started[vmx::max_cpus];

__attribute__((ms_abi)) void on_processor(void* argument) {
    const Started* s = static_cast<const Started*>(argument);
    s->procedure(s->argument);
}

} // namespace

const Processors& processors() {
    if (g_read) return g_processors;
    g_read = true;
    Processors& p = g_processors;
    p.cpu[0].boot = p.cpu[0].enabled = p.cpu[0].healthy = true;
    EFI_GUID guid = mp_services_guid;
    void* protocol = nullptr;
    EFI_BOOT_SERVICES* bs = firmware.system_table->BootServices;
    if (failed(efi_call(bs->LocateProtocol, &guid, static_cast<void*>(nullptr), &protocol)) || protocol == nullptr)
        return p;
    g_mp = static_cast<EfiMpServices*>(protocol);
    UINTN total = 0, enabled = 0;
    if (failed(g_mp->get_number_of_processors(g_mp, &total, &enabled)) || total == 0) {
        g_mp = nullptr;
        return p;
    }
    p.protocol = true;
    p.firmware_count = total;
    p.count = total < vmx::max_cpus ? total : vmx::max_cpus;
    for (std::size_t n = 0; n < p.count; ++n) {
        EfiProcessorInformation info{};
        ProcessorInfo& c = p.cpu[n];
        c = ProcessorInfo{};
        if (failed(g_mp->get_processor_info(g_mp, n, &info))) continue;
        c.apic_id = info.processor_id;
        c.boot = (info.status_flag & processor_as_bsp) != 0;
        c.enabled = (info.status_flag & processor_enabled) != 0;
        c.healthy = (info.status_flag & processor_healthy) != 0;
        if (c.boot) p.boot_number = n;
    }
    return p;
}

bool start_processor(std::size_t number, void (*procedure)(void*), void* argument, std::uint64_t& status) {
    status = EFI_UNSUPPORTED;
    if (g_mp == nullptr || number >= vmx::max_cpus) return false;
    Started& s = g_started[number];
    s.procedure = procedure;
    s.argument = argument;
    s.done = nullptr;
    EFI_BOOT_SERVICES* bs = firmware.system_table->BootServices;
    // An event makes the call non-blocking (the boot CPU runs its own guests meanwhile); the
    // firmware signals it once it has seen the procedure return.
    status = efi_call(bs->CreateEvent, static_cast<UINT32>(0), static_cast<EFI_TPL>(0),
                      static_cast<EFI_EVENT_NOTIFY>(nullptr), static_cast<void*>(nullptr), &s.done);
    if (failed(status)) {
        s.done = nullptr;
        return false;
    }
    status = g_mp->startup_this_ap(g_mp, on_processor, number, s.done, 0, &s, nullptr);
    if (failed(status)) {
        efi_call(bs->CloseEvent, s.done);
        s.done = nullptr;
        return false;
    }
    return true;
}

bool guest_cpus_exist(const vmx::Config& config, char* error, std::size_t size) {
    const Processors& p = processors();
    vmx::Text out(error, size);
    for (unsigned i = 0; i < config.guest_count; ++i) {
        const vmx::GuestConfig& g = config.guests[i];
        if (g.cpu >= p.count) {
            out.str("guest ").str(g.name).str(": cpu ").dec(g.cpu).str(" does not exist: this machine has ");
            out.dec(p.count).str(p.count == 1 ? " CPU (0)" : " CPUs (0-").dec(p.count - 1).str(p.count == 1 ? "" : ")");
            if (!p.protocol) out.str(" (the firmware offers no MP services)");
            return false;
        }
        const ProcessorInfo& c = p.cpu[g.cpu];
        if (!c.enabled || !c.healthy) {
            out.str("guest ").str(g.name).str(": cpu ").dec(g.cpu).str(" is ");
            out.str(!c.enabled ? "disabled in the firmware" : "marked unhealthy by the firmware (failed its self-test)");
            return false;
        }
    }
    return true;
}

void describe_processors(vmx::Text& out) {
    const Processors& p = processors();
    std::size_t enabled = 0;
    for (std::size_t n = 0; n < p.count; ++n) enabled += p.cpu[n].enabled && p.cpu[n].healthy ? 1 : 0;
    out.str("CPUs: ").dec(p.count).str(" (").dec(enabled).str(" enabled");
    if (p.firmware_count > p.count) out.str(", ").dec(p.firmware_count - p.count).str(" beyond the limit left to the firmware");
    out.str("), boot CPU ").dec(p.boot_number);
    out.str(p.protocol ? ", through the firmware's MP services" : ": the firmware offers no MP services");
}

void release_processors() {
    EFI_BOOT_SERVICES* bs = firmware.system_table->BootServices;
    for (Started& s : g_started) {
        if (s.done == nullptr) continue;
        UINTN index = 0;
        efi_call(bs->WaitForEvent, UINTN{1}, &s.done, &index);
        efi_call(bs->CloseEvent, s.done);
        s.done = nullptr;
    }
}

} // namespace boot
