// What the scheduler measures, in TSC ticks: plain structs that the report writer reads (README,
// "The report") and the tests check. Freestanding: integers only, no floating point, no 128-bit
// division (libgcc is not linked into metronome.efi).
//
// How a run's time is divided. Every tick between the run's start and its end is charged to
// exactly one of:
//   - a guest's slice: `ran` (guest mode, VM entry -> VM exit), `hypervisor` (root mode between
//     an exit and the next entry of the same slice: exit handling inside the slice) or `halted`
//     (the CPU idled on the guest's behalf inside its slot: `fixed` with yield_on_hlt = 1, the
//     thread's "consume the rest of the slice outside guest mode" — Marcelo Tosatti);
//   - `RunStats::switching`: root-mode time between slices (saving one guest, picking, loading
//     the next), charged to nobody;
//   - `RunStats::idle`: the CPU idled on nobody's behalf (nothing runnable, a reserved slot of a
//     dead guest, a yielded slot, all budgets spent).
// So  sum(allotted) + idle + switching == run length  holds exactly (Scheduler::totals_add_up),
// and each guest's allotted == ran + hypervisor + halted == the sum of its slice lengths.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vmx {

// Why a guest left guest mode, as the shell reports it to Scheduler::on_exit.
enum class ExitCause : std::uint8_t {
    timer,                       // the preemption timer reached 0 (slice end, tick due, budget)
    halted,                      // trapped HLT (HLT exiting on: yield_on_hlt = 1)
    halted_native_at_preemption, // the timer fired while the guest was in activity state HLT
    yielded,                     // the guest asked to give up its slice (VMCALL yield)
    handled,                     // any other exit the hypervisor handled; the guest goes on
    dead,                        // triple fault, powerdown, unhandled exit: never runs again
};
inline constexpr std::size_t kExitCauseCount = 6;
const char* exit_cause_name(ExitCause cause);

// Count, total, min and max of a series of durations; the mean is total / count, truncated.
struct MinMeanMax {
    std::uint64_t count = 0;
    std::uint64_t total = 0;
    std::uint64_t min = 0;
    std::uint64_t max = 0;

    void add(std::uint64_t value) {
        if (count == 0 || value < min) min = value;
        if (count == 0 || value > max) max = value;
        ++count;
        total += value;
    }
    std::uint64_t mean() const { return count == 0 ? 0 : total / count; }
};

// What a guest is doing, as far as the hypervisor can tell.
enum class Activity : std::uint8_t {
    active,
    halted_trapped, // executed a trapped HLT; waits for its next virtual tick
    halted_native,  // sits in activity state HLT inside guest mode (HLT exiting off)
    dead,
};
const char* activity_name(Activity activity);

struct GuestStats {
    // allotted == ran + hypervisor + halted == slice.total (+ the open slice while running).
    std::uint64_t allotted = 0;
    std::uint64_t ran = 0;
    std::uint64_t hypervisor = 0;
    std::uint64_t halted = 0;
    // Wall time the guest spent in a trapped HLT, from the HLT exit to the entry that woke it
    // (under `shared` most of it is other guests' time; it is not part of `allotted`).
    std::uint64_t halted_wall = 0;
    // False when HLT does not trap (yield_on_hlt = 0): the guest halts inside guest mode, its
    // halted time is part of `ran` and cannot be told apart — report null, never a guess
    // (README, "Where it comes from": Srivatsa Vaddagiri's question). Also false once a trapped-halted guest
    // had to be re-entered in activity state HLT because its interrupts were off.
    bool halted_observable = true;

    // A slice = continuous possession of the CPU: from its first entry (or the start of idling on
    // its behalf) to its last exit (or the end of that idling).
    MinMeanMax slice;
    std::uint64_t exits[kExitCauseCount] = {};

    // Virtual ticks. due == injected + coalesced + (1 if one is still pending).
    std::uint64_t ticks_due = 0;
    std::uint64_t ticks_injected = 0;
    std::uint64_t ticks_coalesced = 0; // due while another was still pending: dropped
    MinMeanMax tick_latency;           // due time of the pending tick -> the entry injecting it

    std::uint64_t throttled = 0; // `capped`: how often its budget ran out before its slice did
    // Handled exits whose root-mode work ran past the end of its slot or slice, and by how much in
    // all (taken off its following slots and slices; under `capped` off its budget).
    std::uint64_t overruns = 0;
    std::uint64_t overrun_ticks = 0;
    Activity activity = Activity::active; // at the end: running / halted / exited
    std::uint64_t died_at = 0;            // TSC of the `dead` exit
};

struct RunStats {
    std::uint64_t start = 0; // the first Scheduler::next()
    std::uint64_t end = 0;   // Scheduler::end(), or the last accounted time while still running
    std::uint64_t idle = 0;
    std::uint64_t switching = 0;
    std::uint64_t idle_on_behalf = 0; // sum of the guests' `halted`, for the report
    // Calls that broke the protocol (wrong guest, time going backwards, exit while not running):
    // the scheduler carries on with the nearest sensible reading and counts them here.
    std::uint64_t protocol_errors = 0;
    // Slice switches Scheduler::exit_and_next decided on its short path (the books are the same
    // either way): how often the common case was met.
    std::uint64_t short_switches = 0;
    bool started = false;
    bool finished = false;

    std::uint64_t length() const { return end - start; }
};

// part / whole in parts per million, truncated; 0 when whole is 0. Exact while part < 2^44
// (part * 10^6 < 2^64); beyond that both are scaled down first, which costs < 1 ppm.
std::uint64_t ratio_ppm(std::uint64_t part, std::uint64_t whole);

} // namespace vmx
