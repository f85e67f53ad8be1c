// CPUID: the answer from the guest's table (vmx/exits/cpuid_table.hpp, read from the processor at
// set-up), Metronome's own leaves 0x40000000.. (guest/ABI.md section 9), and the two answers that
// depend on the guest's state: OSXSAVE follows its CR4, and the XSAVE area size its XCR0.
#include "guest/runtime/abi.hpp"
#include "vmx/arch/x86.hpp"
#include "vmx/exits/cpuid_table.hpp"
#include "vmx/exits/exit_helpers.hpp"
#include "vmx/sched/capacity.hpp"
#include "vmx/vmcs/vmcs_access.hpp"

namespace vmx {

namespace abi = metronome::abi;

namespace {

void set_registers(Vcpu& guest, const std::uint32_t* r) {
    guest.regs.rax = r[0];
    guest.regs.rbx = r[1];
    guest.regs.rcx = r[2];
    guest.regs.rdx = r[3];
}

// Everything but the basic leaves: the extended leaves from the table, Metronome's own leaves,
// zeros elsewhere.
[[gnu::noinline]] void other_leaf(Vcpu& guest, std::uint32_t leaf, std::uint32_t subleaf) {
    std::uint32_t r[4] = {0, 0, 0, 0};
    if (leaf == abi::cpuid_base_leaf) {
        r[0] = abi::cpuid_max_leaf;
        r[1] = abi::cpuid_signature_ebx;
        r[2] = abi::cpuid_signature_ecx;
        r[3] = abi::cpuid_signature_edx;
    } else if (leaf - abi::cpuid_base_leaf <= abi::cpuid_range_last - abi::cpuid_base_leaf) {
        capacity_leaf(guest.capacity, leaf, r); // 0x40000001..: zero beyond the last
    } else {
        const std::uint32_t* a = cpuid_lookup(*guest.cpuid, leaf, subleaf);
        r[0] = a[0];
        r[1] = a[1];
        r[2] = a[2];
        r[3] = a[3];
    }
    set_registers(guest, r);
}

// The two answers that follow the guest's own state.
[[gnu::noinline]] void adjust_for_guest_state(Vcpu& guest, std::uint32_t leaf, std::uint32_t subleaf) {
    if (leaf == 1 && (guest_visible_cr4() & cr4::osxsave) != 0) guest.regs.rcx |= cpuid_bit::osxsave;
    if (leaf == 0xd && subleaf == 0) guest.regs.rbx = xsave_size_for(*guest.cpuid, guest.xcr0);
    if (leaf == 0xd && subleaf == 1) guest.regs.rbx = xsave_compacted_size_for(*guest.cpuid, guest.xcr0);
}

} // namespace

ExitOutcome handle_cpuid(Vcpu& guest) {
    const auto leaf = static_cast<std::uint32_t>(guest.regs.rax);
    const auto subleaf = static_cast<std::uint32_t>(guest.regs.rcx);
    if (leaf < CpuidTable::basic_leaves) {
        set_registers(guest, cpuid_lookup(*guest.cpuid, leaf, subleaf));
        if (leaf == 1 || leaf == 0xd) adjust_for_guest_state(guest, leaf, subleaf);
    } else {
        other_leaf(guest, leaf, subleaf);
    }
    advance_rip();
    return ExitOutcome::resume;
}

} // namespace vmx
