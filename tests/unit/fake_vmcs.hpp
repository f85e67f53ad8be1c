// A VMCS in a map, for exercising exit handling and plans without VMX. It can be told to fail
// reads or writes of one field, as a real VMREAD/VMWRITE might.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "vmx/exits/exit_handler.hpp"
#include "vmx/guest/guest_layout.hpp"
#include "vmx/arch/interruption.hpp"
#include "vmx/vmcs/vmcs_access.hpp"

namespace testing_support {

class FakeVmcs final : public vmx::VmcsAccess {
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

    std::map<vmx::Field, std::uint64_t> fields;
    std::vector<vmx::Field> writes;
    vmx::Field fail_field = static_cast<vmx::Field>(0xffffffffu);
};

class FakeServices final : public vmx::ExitServices {
  public:
    void cpuid(std::uint32_t leaf, std::uint32_t, std::uint32_t out[4]) override {
        out[0] = leaf;
        out[1] = 0x11111111u;
        out[2] = 0xffffffffu;  // every feature bit set, so filtering is visible
        out[3] = 0x22222222u;
    }
    bool console_line(const vmx::GuestContext& guest, const char* line) override {
        if (lines.size() >= console_capacity) return false;
        lines.push_back(std::string(guest.name) + ": " + line);
        return true;
    }
    void end_of_interrupt(std::uint8_t vector) override { eoi.push_back(vector); }
    std::uint64_t supported_xcr0() override { return xcr0_supported; }

    std::vector<std::string> lines;
    std::size_t console_capacity = ~std::size_t{0}; // lines accepted before console_line says full
    std::vector<std::uint8_t> eoi;
    std::uint64_t xcr0_supported = 0xe7;  // x87, SSE, AVX, AVX-512
};

// One guest in 2 MiB of prepared memory with a fake VMCS, about to take an exit: the fixture of
// the exit-handler tests.
struct ExitFixture {
    std::vector<std::uint8_t> memory = std::vector<std::uint8_t>(2 << 20);
    vmx::GuestContext guest;
    FakeVmcs vmcs;
    FakeServices services;

    explicit ExitFixture(const char* name = "g") {
        guest.name = name;
        guest.memory = memory.data();
        guest.memory_size = memory.size();
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
    }
    vmx::ExitOutcome exit(std::uint16_t reason, std::uint64_t qualification = 0, std::uint64_t length = 2) {
        vmcs.set(vmx::Field::exit_reason, reason);
        vmcs.set(vmx::Field::exit_qualification, qualification);
        vmcs.set(vmx::Field::exit_instruction_length, length);
        return vmx::handle_exit(guest, vmcs, services);
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
