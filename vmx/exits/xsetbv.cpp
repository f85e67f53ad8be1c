// XSETBV (SDM "XSETBV—Set Extended Control Register"): #UD without CR4.OSXSAVE, #GP for an XCR
// other than 0 or an invalid XCR0. A valid value becomes the guest's XCR0 at once: the processor
// keeps the guest's XCR0 loaded while the guest owns it (vmx/run/platform.hpp: load_xcr0).
#include "vmx/arch/interruption.hpp"
#include "vmx/arch/x86.hpp"
#include "vmx/exits/exit_helpers.hpp"
#include "vmx/run/platform.hpp"
#include "vmx/vmcs/vmcs_access.hpp"

namespace vmx {

ExitOutcome handle_xsetbv(Vcpu& guest) {
    if ((guest_visible_cr4() & cr4::osxsave) == 0) {
        inject_exception(guest, vector::ud);
        return ExitOutcome::resume;
    }
    const std::uint64_t value = (guest.regs.rdx << 32) | (guest.regs.rax & 0xffffffffu);
    const bool avx512 = (value & xcr0::avx512) != 0;
    const bool valid = (guest.regs.rcx & 0xffffffffu) == 0 && (value & xcr0::x87) != 0 &&
                       (value & ~guest.xcr0_supported) == 0 &&
                       !((value & xcr0::avx) != 0 && (value & xcr0::sse) == 0) &&
                       (!avx512 || ((value & xcr0::avx512) == xcr0::avx512 && (value & xcr0::avx) != 0));
    if (!valid) {
        inject_exception(guest, vector::gp);
        return ExitOutcome::resume;
    }
    if (value != guest.xcr0) {
        guest.xcr0 = value;
        platform::load_xcr0(value);
    }
    advance_rip();
    return ExitOutcome::resume;
}

} // namespace vmx
