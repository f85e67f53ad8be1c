#include "vmx/guest/memory_budget.hpp"

#include "vmx/guest/ept.hpp"
#include "vmx/lib/text.hpp"

namespace vmx {
namespace {

constexpr std::uint64_t page = 4096;
constexpr std::uint64_t vmcs_pages = 1;
// The largest XSAVE area of any CPU Metronome switches (x87, SSE, AVX, AVX-512): under 3 pages.
constexpr std::uint64_t extended_state_pages = 3;

std::uint64_t mib_of(std::uint64_t pages) { return (pages * page + (1u << 20) - 1) >> 20; }

void where(const Config& config, const GuestConfig& g, Text& out) {
    // The value that decided the guest's memory: its own, the global one, or the default.
    const ValueOrigin own = g.origin[static_cast<unsigned>(ConfigKey::memory_mib)];
    const ValueOrigin global = config.origin[static_cast<unsigned>(ConfigKey::memory_mib)];
    const ValueOrigin o = own.source != ConfigSource::none ? own : global.source != ConfigSource::none ? global : g.section;
    if (o.source == ConfigSource::load_options) {
        out.str("load options:").dec(o.line);
    } else {
        out.str("metronome.cfg:").dec(o.line);
    }
}

} // namespace

std::uint64_t guest_pages_needed(std::uint32_t memory_mib) {
    const std::uint64_t bytes = std::uint64_t{memory_mib} << 20;
    const EptLayout worst{bytes, page, false, false}; // host memory not 2 MiB aligned
    return bytes / page + ept_tables_needed(worst) + vmcs_pages + extended_state_pages;
}

MemoryFit fit_guests(const Config& config, std::uint64_t free_pages, std::uint64_t largest_range) {
    MemoryFit fit;
    fit.pages_needed = session_pages_needed;
    for (unsigned i = 0; i < config.guest_count; ++i) {
        const std::uint64_t own = (std::uint64_t{config.guests[i].memory_mib} << 20) / page;
        fit.pages_needed += guest_pages_needed(config.guests[i].memory_mib);
        if (fit.ok && own > largest_range) {
            fit.ok = false;
            fit.first_misfit = i;
            fit.contiguous = true;
        }
        if (fit.ok && fit.pages_needed > free_pages) {
            fit.ok = false;
            fit.first_misfit = i;
        }
    }
    return fit;
}

void describe_misfit(const Config& config, const MemoryFit& fit, std::uint64_t free_pages,
                     std::uint64_t largest_range, Text& out) {
    const GuestConfig& g = config.guests[fit.first_misfit];
    where(config, g, out);
    out.str(": key 'memory_mib': guest ").str(g.name).str(": ");
    if (fit.contiguous) {
        out.str("its ").dec(g.memory_mib).str(" MiB must be one range of memory, and the largest the firmware has free is ");
        out.dec(mib_of(largest_range)).str(" MiB");
        return;
    }
    out.str("the ").dec(config.guest_count).str(" guests ask for ").dec(mib_of(fit.pages_needed));
    out.str(" MiB in all (guest memory, EPT tables, VMCS and FPU areas), and the firmware has ");
    out.dec(mib_of(free_pages)).str(" MiB free; the guests up to and including ").str(g.name);
    out.str(" already need more than that");
}

} // namespace vmx
