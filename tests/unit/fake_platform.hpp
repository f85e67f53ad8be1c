// The machine under the pure core in the host's unit tests: vmx/run/platform.hpp's functions,
// answered by whichever FakePlatform is current (tests/unit/fake_platform.cpp). A test that needs
// a simulated processor derives from it and overrides enter(); one that only needs the services
// (console lines, end of interrupt, XCR0 loads) uses it as it is. Each FakePlatform becomes
// current while it exists, and the previous one comes back after it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "vmx/run/platform.hpp"
#include "vmx/run/vcpu.hpp"

namespace testing_support {

class FakePlatform {
  public:
    FakePlatform();
    virtual ~FakePlatform();
    FakePlatform(const FakePlatform&) = delete;
    FakePlatform& operator=(const FakePlatform&) = delete;

    virtual std::uint64_t rdtsc() { return now += 1; }
    virtual bool switch_to(vmx::Vcpu*, vmx::Vcpu&) { return true; }
    virtual vmx::EntryResult enter(vmx::Vcpu&) { return {}; }
    virtual void idle_until(std::uint64_t tsc) { now = tsc > now ? tsc : now; }
    virtual void background(std::uint64_t) {}
    virtual int console_input() {
        if (typed.empty()) return -1;
        const int byte = static_cast<unsigned char>(typed.front());
        typed.erase(typed.begin());
        return byte;
    }
    virtual void end_of_interrupt() { ++end_of_interrupts; }
    virtual void load_xcr0(std::uint64_t value) { xcr0_loads.push_back(value); }
    virtual bool write_switched_msr(std::uint32_t msr, std::uint64_t value) {
        if (msr == vmx::msr::ia32_tsc_aux && !has_tsc_aux) return false;
        msr_writes.push_back({msr, value});
        return true;
    }
    virtual bool console_line(const vmx::Vcpu& guest, const char* line, bool complete) {
        if (lines.size() >= console_capacity) return false;
        lines.push_back(std::string(guest.name) + (complete ? ": " : "+ ") + line);
        return true;
    }

    std::uint64_t now = 1000;                       // the TSC
    std::vector<std::string> lines;                 // console lines, "name: text" ("name+ text": a piece)
    std::string typed;                              // what console_input() hands out, in order
    std::size_t console_capacity = ~std::size_t{0}; // lines accepted before console_line says full
    unsigned end_of_interrupts = 0;
    std::vector<std::uint64_t> xcr0_loads;
    struct MsrWrite {
        std::uint32_t msr;
        std::uint64_t value;
    };
    std::vector<MsrWrite> msr_writes; // write_switched_msr, in order
    bool has_tsc_aux = true;          // the simulated CPU has RDTSCP

    // One that is not made current: what answers when no test installed its own.
    struct Fallback {};
    explicit FakePlatform(Fallback) : previous_(this) {}

  private:
    FakePlatform* previous_;
};

} // namespace testing_support
