// A VMCS in a map, for exercising exit handling and plans without VMX. It can be told to fail
// reads or writes of one field, as a real VMREAD/VMWRITE might.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "fake_platform.hpp"
#include "vmx/exits/cpuid_table.hpp"
#include "vmx/exits/exit_handler.hpp"
#include "vmx/guest/guest_layout.hpp"
#include "vmx/arch/interruption.hpp"
#include "vmx/vmcs/vmcs_access.hpp"

namespace testing_support {

class FakeVmcs final : public vmx::vmcs::SoftVmcs {
  public:
    bool read(vmx::Field field, std::uint64_t* value) override {
        if (field == fail_field) return false;
        auto it = fields.find(field);
        *value = it == fields.end() ? 0 : it->second;
        return true;
    }
    bool write(vmx::Field field, std::uint64_t value) override {
        if (field == fail_field) return false;
        fields[field] = value;
        writes.push_back(field);
        return true;
    }
    std::uint64_t get(vmx::Field field) const {
        auto it = fields.find(field);
        return it == fields.end() ? 0 : it->second;
    }
    void set(vmx::Field field, std::uint64_t value) { fields[field] = value; }
    // Makes this the VMCS the core reads and writes (vmx::vmcs::current).
    void make_current() { vmx::vmcs::current = this; }

    std::map<vmx::Field, std::uint64_t> fields;
    std::vector<vmx::Field> writes;
    vmx::Field fail_field = static_cast<vmx::Field>(0xffffffffu);
};

// A processor's CPUID for the tests: basic leaves up to 0xD, extended up to 0x80000008, and in
// every other leaf EAX = the leaf, EBX = 0x11111111, ECX = all ones (so that filtering is
// visible), EDX = 0x22222222.
inline void fake_cpuid(std::uint32_t leaf, std::uint32_t, std::uint32_t out[4]) {
    out[0] = leaf == 0 ? 0xdu : leaf == 0x80000000u ? 0x80000008u : leaf;
    out[1] = 0x11111111u;
    out[2] = 0xffffffffu;
    out[3] = 0x22222222u;
}

inline const vmx::CpuidTable& fake_cpuid_table() {
    static const vmx::CpuidTable table = [] {
        vmx::CpuidTable t;
        vmx::build_cpuid_table(fake_cpuid, t);
        return t;
    }();
    return table;
}

// One guest in 2 MiB of prepared memory with a fake VMCS, about to take an exit: the fixture of
// the exit-handler tests. Its platform collects console lines, ends of interrupt and XCR0 loads.
struct ExitFixture {
    std::vector<std::uint8_t> memory = std::vector<std::uint8_t>(2 << 20);
    vmx::Vcpu guest;
    FakeVmcs vmcs;
    FakePlatform platform;

    explicit ExitFixture(const char* name = "g") {
        guest.name = name;
        guest.memory = memory.data();
        guest.memory_size = memory.size();
        guest.cpuid = &fake_cpuid_table();
        guest.xcr0_supported = 0xe7; // x87, SSE, AVX, AVX-512
        const vmx::GuestIdentity id{0, name, "spin", 0, 0, 1000};
        const char* reason = nullptr;
        vmx::prepare_guest_memory(memory.data(), memory.size(), id, &reason);
        vmcs.set(vmx::Field::guest_rip, 0x10000);
        vmcs.set(vmx::Field::guest_cr3, 0x1000);
        vmcs.set(vmx::Field::guest_rflags, 0x202);
        // As guest/ABI.md section 3 starts a guest: 64-bit code, CPL 0, paging with CR0.WP.
        vmcs.set(vmx::Field::guest_cs_access_rights, 0xa09b);
        vmcs.set(vmx::Field::guest_ss_access_rights, 0xc093);
        vmcs.set(vmx::Field::guest_cr0, 0x80010033);
        vmcs.make_current();
    }
    vmx::ExitOutcome exit(std::uint16_t reason, std::uint64_t qualification = 0, std::uint64_t length = 2) {
        vmcs.set(vmx::Field::exit_reason, reason);
        vmcs.set(vmx::Field::exit_qualification, qualification);
        vmcs.set(vmx::Field::exit_instruction_length, length);
        return handle();
    }
    // Handles the exit the VMCS holds as it is.
    vmx::ExitOutcome handle() {
        vmcs.make_current();
        return vmx::handle_exit(guest);
    }
    // I/O exit qualification: port, size in bytes, direction.
    static std::uint64_t io(std::uint16_t port, unsigned size, bool in) {
        return (static_cast<std::uint64_t>(port) << 16) | (size - 1) | (in ? 8u : 0u);
    }
    // The vector of the event set up for injection, or 0xff when none.
    std::uint8_t injected_vector() const {
        const auto d = vmx::decode_interruption_info(static_cast<std::uint32_t>(vmcs.get(vmx::Field::entry_interruption_info)));
        return d.valid ? d.vector : 0xff;
    }
};

} // namespace testing_support
