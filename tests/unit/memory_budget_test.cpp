// Guests that ask for more memory than the firmware has free are refused before anything is
// allocated, naming the guest, the key and both sizes (vmx/guest/memory_budget.hpp).
#include "vmx/guest/memory_budget.hpp"
#include "vmx/lib/text.hpp"

#include <doctest/doctest.h>

#include <string>

namespace {

vmx::Config g_cfg;

const vmx::Config& load(const std::string& text) {
    const vmx::ConfigResult r = vmx::load_config(text.data(), text.size(), nullptr, 0, g_cfg);
    REQUIRE(r.ok);
    return g_cfg;
}

std::string eight_big() {
    std::string text = "memory_mib = 256\n";
    for (int i = 0; i < 8; ++i) text += "[guest g" + std::to_string(i) + "]\nimage = spin\n";
    return text;
}

} // namespace

TEST_CASE("memory budget: a guest needs its memory, its EPT tables, a VMCS and an FPU area") {
    // 2 MiB: 512 pages, 1 PML4 + 1 PDPT + 1 PD + 1 page table, 1 VMCS, 3 FPU pages.
    CHECK(vmx::guest_pages_needed(2) == 512 + 4 + 1 + 3);
    CHECK(vmx::guest_pages_needed(256) == 65536 + 1 + 1 + 1 + 128 + 1 + 3);
}

TEST_CASE("memory budget: eight guests of 256 MiB in a 213 MiB machine are refused with the sizes") {
    const vmx::Config& cfg = load(eight_big());
    const std::uint64_t free = 213 * 256, largest = 160 * 256; // pages
    const vmx::MemoryFit fit = vmx::fit_guests(cfg, free, largest);
    CHECK_FALSE(fit.ok);
    CHECK(fit.first_misfit == 0);
    CHECK(fit.contiguous);
    vmx::FixedText<400> text;
    vmx::describe_misfit(cfg, fit, free, largest, text);
    CHECK(std::string(text.c_str()) ==
          "metronome.cfg:1: key 'memory_mib': guest g0: its 256 MiB must be one range of memory, and "
          "the largest the firmware has free is 160 MiB");
}

TEST_CASE("memory budget: the total counts, and the guest where it stops fitting is named") {
    const vmx::Config& cfg = load("[guest a]\nimage = spin\nmemory_mib = 100\n[guest b]\nimage = spin\n"
                                  "memory_mib = 100\n[guest c]\nimage = spin\nmemory_mib = 100\n");
    const std::uint64_t free = 213 * 256, largest = 200 * 256;
    const vmx::MemoryFit fit = vmx::fit_guests(cfg, free, largest);
    CHECK_FALSE(fit.ok);
    CHECK(fit.first_misfit == 2);
    CHECK_FALSE(fit.contiguous);
    vmx::FixedText<400> text;
    vmx::describe_misfit(cfg, fit, free, largest, text);
    CHECK(std::string(text.c_str()) ==
          "metronome.cfg:9: key 'memory_mib': guest c: the 3 guests ask for 301 MiB in all (guest "
          "memory, EPT tables, VMCS and FPU areas), and the firmware has 213 MiB free; the guests up "
          "to and including c already need more than that");
    CHECK(vmx::fit_guests(cfg, 400 * 256, 200 * 256).ok);
}

TEST_CASE("memory budget: a 2048 MiB kernel guest is counted in full and refused where it cannot fit") {
    // 2 GiB: 524288 pages; 1 PML4 + 1 PDPT + 2 PDs + 1024 page tables, 1 VMCS, 3 FPU pages.
    CHECK(vmx::guest_pages_needed(2048) == 524288 + 1 + 1 + 2 + 1024 + 1 + 3);
    const vmx::Config& cfg = load("[guest a]\nimage = spin\n[guest linux]\nkernel = \\vmlinux\nmemory_mib = 2048\n");
    const std::uint64_t small = 213 * 256;
    const vmx::MemoryFit refused = vmx::fit_guests(cfg, small, small);
    CHECK_FALSE(refused.ok);
    CHECK(refused.first_misfit == 1);
    CHECK(refused.contiguous);
    vmx::FixedText<400> text;
    vmx::describe_misfit(cfg, refused, small, small, text);
    CHECK(std::string(text.c_str()) ==
          "metronome.cfg:5: key 'memory_mib': guest linux: its 2048 MiB must be one range of memory, and "
          "the largest the firmware has free is 213 MiB");
    const std::uint64_t big = 4096 * 256; // 4 GiB free, in one range
    const vmx::MemoryFit fits = vmx::fit_guests(cfg, big, big);
    CHECK(fits.ok);
    CHECK(fits.pages_needed == vmx::session_pages_needed + vmx::guest_pages_needed(2) + vmx::guest_pages_needed(2048));
}
