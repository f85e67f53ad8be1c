// The Machine, VmcsAccess and ExitServices of the real processor: VMREAD/VMWRITE on the current
// VMCS, VMLAUNCH/VMRESUME through vm_entry.S, and the per-guest state the VMCS does not switch
// (FPU/SSE/AVX by XSAVE or FXSAVE, DR0-3/DR6, the syscall MSRs, TSC_AUX, XCR0). Target only.
#pragma once
#include <cstddef>
#include <cstdint>

#include "vmx/hw/idle.hpp"
#include "vmx/run/hypervisor.hpp"

namespace vmx::hw {

// What the hypervisor keeps per guest outside the VMCS.
struct HwGuest {
    std::uint64_t vmcs_physical = 0;
    std::uint64_t eptp = 0;
    std::uint8_t* extended_state = nullptr;  // XSAVE (64-byte aligned) or FXSAVE area
    std::uint64_t kernel_gs_base = 0, star = 0, lstar = 0, cstar = 0, fmask = 0, tsc_aux = 0;
    std::uint64_t dr[4] = {0, 0, 0, 0};
    std::uint64_t dr6 = 0xffff0ff0u;
};

// The host's values of the same state, saved before the first guest and restored at the end.
struct HostSavedState {
    std::uint64_t kernel_gs_base, star, lstar, cstar, fmask, tsc_aux;
    std::uint64_t dr[4], dr6, dr7, cr2;
};

// One guest's console line to the output queue; false when that guest's share of it is full.
using ConsoleSink = bool (*)(std::uint32_t guest_index, const char* guest_name, const char* line);

class HwMachine final : public Machine, public VmcsAccess, public ExitServices {
  public:
    // `xsave_mask`: the XCR0 the hypervisor saves and restores with (0: use FXSAVE).
    // `background`: bounded work (draining the console queue) done before each entry and while
    // idling; may be null.
    void init(HwGuest* guests, std::size_t count, std::uint64_t xsave_mask, bool has_rdtscp, ConsoleSink sink,
              void (*background)());
    // How idle_until() idles (initialised by the caller); without one, a PAUSE loop.
    void set_idle(Idle* idle) { idle_ = idle; }
    // Fresh FPU/SSE/AVX state for a guest: x87 and SSE control words at their reset values.
    static void init_extended_state(std::uint8_t* area);
    void save_host(HostSavedState& host, std::uint8_t* area);
    void restore_host(const HostSavedState& host, const std::uint8_t* area, GuestContext* current);

    std::uint64_t rdtsc() override;
    bool switch_guest(GuestContext* previous, GuestContext& next) override;
    EntryResult enter(GuestContext& guest, bool launched) override;
    void idle_until(std::uint64_t tsc) override;
    VmcsAccess& vmcs() override { return *this; }
    ExitServices& services() override { return *this; }

    bool read(Field field, std::uint64_t* value) override;
    bool write(Field field, std::uint64_t value) override;

    void cpuid(std::uint32_t leaf, std::uint32_t subleaf, std::uint32_t out[4]) override;
    bool console_line(const GuestContext& guest, const char* line) override;
    void end_of_interrupt(std::uint8_t vector) override;
    std::uint64_t supported_xcr0() override { return xsave_mask_; }

    std::uint32_t last_instruction_error() const { return last_error_; }
    std::uint64_t failed_accesses() const { return failed_accesses_; }

  private:
    void save_extended(std::uint8_t* area);
    void load_extended(const std::uint8_t* area, std::uint64_t guest_xcr0);

    HwGuest* guests_ = nullptr;
    std::size_t count_ = 0;
    std::uint64_t xsave_mask_ = 0;
    bool rdtscp_ = false;
    ConsoleSink sink_ = nullptr;
    void (*background_)() = nullptr;
    Idle* idle_ = nullptr;
    std::uint32_t last_error_ = 0;
    std::uint64_t failed_accesses_ = 0;
};

} // namespace vmx::hw
