#include "vmx/run/run_loop.hpp"

#include "guest/runtime/abi.hpp"
#include "vmx/arch/interruption.hpp"
#include "vmx/arch/x86.hpp"
#include "vmx/caps/controls.hpp"
#include "vmx/devices/console.hpp"
#include "vmx/devices/pc.hpp"
#include "vmx/exits/exit_handler.hpp"
#include "vmx/exits/exit_helpers.hpp"
#include "vmx/guest/guest_paging.hpp"
#include "vmx/lib/text.hpp"
#include "vmx/vmcs/preemption_timer.hpp"
#include "vmx/vmcs/vmcs_access.hpp"

namespace vmx {
namespace {


// A single-step trap is pending (the guest runs with RFLAGS.TF = 1): VM entry must deliver the
// #DB first, as traps on the previous instruction come before interrupts (SDM "Priority Among
// Concurrent Events"), and injecting an interrupt would discard it.
bool single_step_pending() {
    return (vmcs::read(Field::guest_pending_debug_exceptions) & pending_debug::single_step) != 0;
}

// Whether a guest that exited in the HLT activity state must go on running instead of halting:
//  - a single-step trap is pending (it halted with RFLAGS.TF = 1): a debug exception ends the
//    halt (SDM "HLT—Halt"), so the guest is entered active and VM entry delivers the #DB;
//  - it is "halted" with interrupts off at an RIP that does not follow a HLT instruction. The
//    HLT state is only reachable by executing HLT, which leaves RIP just past it; anything else
//    is an event that was delivered while the processor stayed halted. Bochs 2.7 does exactly
//    that with the single-step #DB after a HLT executed with TF = 1: it pushes the frame, enters
//    the #DB handler (interrupts off) and stays halted, so nothing could ever wake the guest.
//    (A guest that halted with interrupts off on purpose, `cli; hlt`, has RIP past its HLT and
//    stays halted.)
bool halt_is_over(const Vcpu& guest) {
    if (single_step_pending()) return true;
    if ((vmcs::read(Field::guest_rflags) & rflags::if_) != 0) return false;
    const std::uint64_t rip = vmcs::read(Field::guest_rip);
    constexpr std::uint8_t hlt_opcode = 0xf4;
    WalkAccess fetch;
    fetch.fetch = true;
    const GuestWalk w = walk_guest_page_tables(guest.memory, guest.memory_size, vmcs::read(Field::guest_cr3), rip - 1, fetch);
    return rip != 0 && w.ok() && guest.memory[w.physical] != hlt_opcode;
}

// Injects the virtual tick if the guest can take an external interrupt now (RFLAGS.IF = 1, no
// STI/MOV-SS shadow, no other event being injected, no single-step trap due: SDM "Checks on
// Guest Non-Register State"); otherwise asks for an interrupt-window exit so the tick is
// delivered as soon as it can be.
bool try_inject_tick(Vcpu& guest) {
    const std::uint64_t flags = vmcs::read(Field::guest_rflags);
    const std::uint64_t blocking = vmcs::read(Field::guest_interruptibility_state);
    const std::uint64_t pending = vmcs::read(Field::entry_interruption_info);
    const bool shadow = (blocking & (interruptibility::blocking_by_sti | interruptibility::blocking_by_mov_ss)) != 0;
    if ((flags & rflags::if_) == 0 || shadow || (pending & interruption_bits::valid) != 0 ||
        ((flags & rflags::tf) != 0 && single_step_pending())) {
        set_interrupt_window(guest, true);
        return false;
    }
    vmcs::write(Field::entry_interruption_info, inject_external_interrupt(static_cast<std::uint8_t>(metronome::abi::tick_vector)));
    set_interrupt_window(guest, false);
    return true;
}


// The guest the scheduler decided on could not be made current (its VMPTRLD failed), by the run
// loop or below it: it is stopped, and dies outside guest mode.
void stop_unloadable(Vcpu& guest, Scheduler& scheduler) {
    stop_guest(guest, StopReason::hypervisor_error, 0, "VMPTRLD of its VMCS failed");
    scheduler.on_exit(guest.index, platform::rdtsc(), ExitCause::dead);
}

// A guest whose timer exits may be switched away from below the run loop, and that may be switched
// to there: what its entry needs is all in prepare_entry (no `tsc = own` books, no virtual PC).
bool may_switch_below(const Vcpu& guest) { return !guest.own_tsc && guest.pc == nullptr; }

// What the entry of `guest` for the run decision d needs besides its timer: its virtual tick or
// its PC's interrupt, and its activity state. `deadline` comes earlier where its APIC timer is due
// sooner. True when a tick reached it (on_reentry's `injected`).
[[gnu::always_inline]] inline bool prepare_entry(Vcpu& guest, const Decision& d, Scheduler& scheduler,
                                                std::uint64_t& deadline) {
    bool injected = false;
    if (guest.own_tsc && guest.pc != nullptr) {
        // Its timer was given to the scheduler only now, after this decision.
        const std::uint64_t due = pc_timer_due_host(guest);
        if (due < deadline) deadline = due;
    }
    if (guest.pc != nullptr) {
        // A Linux guest: a due tick is its APIC timer's expiry, and its virtual PC decides
        // what to inject.
        if (d.inject_tick) {
            pc_timer_tick(guest);
            injected = true; // it reached the guest's APIC
            const std::uint64_t next = pc_timer_due_host(guest);
            scheduler.set_timer(d.guest, next);
            if (next < deadline) deadline = next;
        }
        const bool delivered = deliver_pc_interrupt(guest);
        if (d.resume_halted) {
            const bool wake = delivered || halt_is_over(guest);
            vmcs::write(Field::guest_activity_state, wake ? activity::active : activity::hlt);
        }
    } else {
        if (d.inject_tick) {
            injected = try_inject_tick(guest);
        } else {
            set_interrupt_window(guest, false);
        }
        const bool wake = d.resume_halted && !injected && halt_is_over(guest);
        if (d.resume_halted && !injected && !wake) vmcs::write(Field::guest_activity_state, activity::hlt);
        if (injected || wake) vmcs::write(Field::guest_activity_state, activity::active);
    }
    return injected;
}

ExitCause cause_of(ExitOutcome outcome) {
    switch (outcome) {
    case ExitOutcome::preempted:
        return vmcs::read(Field::guest_activity_state) == activity::hlt ? ExitCause::halted_native_at_preemption
                                                                         : ExitCause::timer;
    case ExitOutcome::halted: return ExitCause::halted;
    case ExitOutcome::yielded: return ExitCause::yielded;
    case ExitOutcome::stopped: return ExitCause::dead;
    case ExitOutcome::resume:
    case ExitOutcome::timer_changed:
    case ExitOutcome::ready:
    case ExitOutcome::interrupt_window: return ExitCause::handled;
    }
    return ExitCause::handled;
}

void stop_failed_entry(Vcpu& guest, const EntryResult& r) {
    FixedText<sizeof(GuestStop::detail)> text;
    describe_failed_entry(guest.launched, r, text);
    stop_guest(guest, StopReason::entry_failure, 0, text.c_str());
    guest.stop.code = r.vm_instruction_error;
}

// `tsc = own` (vmx/run/vcpu.hpp): the guest leaves the CPU. Its timer, if it has one, stands
// still with its clock: the scheduler keeps none for it until it is back.
void leave_own_tsc(Vcpu& guest, Scheduler& scheduler) {
    guest.left_mark = scheduler.charged_until();
    guest.left_allotted = scheduler.guest_stats(guest.index).allotted;
    if (guest.pc != nullptr) scheduler.set_timer(guest.index, ~0ull);
}

// ...and comes back: its TSC goes on from where it was, less the time charged to it meanwhile
// (its halted time in its own slots, its exits' handling), which it owned. The first time, its
// TSC starts at 0.
void resume_own_tsc(Vcpu& guest, Scheduler& scheduler) {
    if (!guest.launched) {
        guest.tsc_offset = 0 - platform::rdtsc();
    } else {
        const std::uint64_t passed = scheduler.charged_until() - guest.left_mark;
        const std::uint64_t owned = scheduler.guest_stats(guest.index).allotted - guest.left_allotted;
        guest.tsc_offset -= passed - owned;
    }
    vmcs::write(Field::tsc_offset, guest.tsc_offset);
    if (guest.pc != nullptr) scheduler.set_timer(guest.index, pc_timer_due_host(guest));
}

// What was typed for the console_input guest that its UART has not taken yet. COM1 is emptied
// into it at every look, so that the 16 bytes COM1's receive FIFO holds never overflow while the
// guest's driver does not listen yet (a kernel still booting) or reads slowly: what is typed
// before then is kept, in order, up to `capacity` bytes (then COM1 holds the rest, as before).
struct TypedQueue {
    static constexpr std::size_t capacity = 4096;
    std::uint8_t bytes[capacity]; // written before read: no need to clear it
    std::size_t head = 0, tail = 0;
    bool empty() const { return head == tail; }
    bool full() const { return tail - head == capacity; }
    void push(std::uint8_t b) { bytes[tail++ % capacity] = b; }
    std::uint8_t pop() { return bytes[head++ % capacity]; }
};

// The console_input guest: what was typed since the last look is queued, and goes into its UART
// once its driver listens, as much as its receive FIFO takes (the rest waits in the queue), and
// the interrupt that raises ends a trapped HLT at once instead of at its next timer.
void take_console_input(Vcpu& guest, Scheduler& scheduler, TypedQueue& typed) {
    while (!typed.full()) {
        const int byte = platform::console_input();
        if (byte < 0) break;
        typed.push(static_cast<std::uint8_t>(byte));
    }
    if (guest.pc == nullptr || !guest.pc->uart.listening()) return;
    bool received = false;
    while (!typed.empty() && guest.pc->uart.can_receive()) received = pc_receive(*guest.pc, typed.pop()) || received;
    if (received && pc_pending_vector(*guest.pc) >= 0) scheduler.wake(guest.index);
}

// Opens the window when every guest has arrived: the books as they stand are its zero.
void open_window(MeasurementWindow& w, const Scheduler& scheduler, const Vcpu* guests, std::size_t count) {
    w.opened = true;
    w.start = scheduler.charged_until();
    w.closes_at = w.start + w.measure_ticks;
    w.run_at_open = scheduler.run_stats();
    for (std::size_t g = 0; g < count; ++g) {
        w.at_open[g] = scheduler.guest_stats(g);
        if (w.exits_at_open == nullptr) continue;
        for (std::uint16_t r = 0; r < exit_reason::count; ++r) w.exits_at_open[g].exits[r] = guests[g].counters.exits[r];
        w.exits_at_open[g].other = guests[g].counters.exits_other;
    }
}

} // namespace

void describe_failed_entry(bool launched, const EntryResult& r, Text& text) {
    text.str(launched ? "VMRESUME" : "VMLAUNCH").str(" failed: ");
    if (r.fail_invalid) {
        text.str("VMfailInvalid (no current VMCS)");
    } else {
        text.str(vm_instruction_error_text(r.vm_instruction_error)).str(" (VM-instruction error ").dec(r.vm_instruction_error).chr(')');
    }
}

std::uint32_t timer_value_for(std::uint64_t now, std::uint64_t deadline, const RunOptions& options) {
    return timer_units_until(now, deadline, options.timer_rate, options.timer_limit);
}

void run_guests(Scheduler& scheduler, Vcpu* guests, std::size_t count, const RunOptions& options) {
    Vcpu* current = nullptr;
    // Root-mode ticks of the exit the loop handled last, from its exit_tsc to the next entry's
    // resume_at (GuestCounters::root_ticks); dropped when the CPU idles in between.
    RootTicks* root_slot = nullptr;
    std::uint64_t root_since = 0;
    MeasurementWindow* window = options.window != nullptr && options.window->measure_ticks != 0 ? options.window : nullptr;
    std::size_t arrived = 0; // guests ready for the window (or stopped)
    Vcpu* const typist = options.console_guest < count ? &guests[options.console_guest] : nullptr;
    TypedQueue typed; // only with a typist
    // The exit handed back last, told to the scheduler together with the next decision
    // (Scheduler::exit_and_next: one call for the common slice switch). With a typist it is told
    // at once: what was typed may wake the guest that has just halted.
    struct {
        Vcpu* guest = nullptr;
        std::uint64_t t_exit = 0;
        ExitCause cause = ExitCause::handled;
        std::uint64_t root_inside = 0;
    } exit;
    SwitchBelow below;
    below.scheduler = &scheduler;
    below.guests = guests;
    below.count = count;
    below.options = &options;
    for (Vcpu* g = guests; g != guests + count; ++g) {
        g->fast.timer_rate = options.timer_rate;
        g->fast.timer_limit = options.timer_limit;
        g->fast.rearm_after = options.timer_saved ? timer_resync_ticks : 0;
        if (g->pc == nullptr) g->ready = true;
        if (g->ready) ++arrived;
    }
    for (;;) {
        const std::uint64_t now = platform::rdtsc();
        if (window != nullptr && window->opened && now >= window->closes_at) break;
        if (typist != nullptr) take_console_input(*typist, scheduler, typed);
        const Decision d = exit.guest != nullptr ? scheduler.exit_and_next(exit.guest->index, exit.t_exit, exit.cause,
                                                                           exit.root_inside, now)
                                                 : scheduler.next(now);
        exit.guest = nullptr;
        if (d.kind == DecisionKind::finished) break;
        // Off the CPU, an interactive guest waits for its user: its prompt is shown now.
        if (typist != nullptr && (d.kind != DecisionKind::run || d.guest != typist->index)) console_piece(*typist);
        if (window != nullptr && !window->opened && arrived == count) open_window(*window, scheduler, guests, count);
        const std::uint64_t closes_at = window != nullptr ? window->closes_at : ~0ull;
        if (d.kind == DecisionKind::idle) {
            root_slot = nullptr;
            platform::idle_until(d.idle_until < closes_at ? d.idle_until : closes_at);
            continue;
        }
        if (d.guest >= count) break; // cannot happen with a consistent scheduler
        Vcpu& guest = guests[d.guest];
        if (current != &guest) {
            if (current != nullptr && current->own_tsc) leave_own_tsc(*current, scheduler);
            if (!platform::switch_to(current, guest)) {
                stop_unloadable(guest, scheduler);
                if (!guest.ready) {
                    guest.ready = true;
                    ++arrived;
                }
                current = nullptr;
                continue;
            }
            current = &guest;
            if (guest.own_tsc) resume_own_tsc(guest, scheduler);
        }
        platform::background(now);
        std::uint64_t deadline = d.timer_deadline < closes_at ? d.timer_deadline : closes_at;
        const bool injected = prepare_entry(guest, d, scheduler, deadline);

        const std::uint64_t entry = platform::rdtsc();
        if (typist != nullptr && deadline > entry && deadline - entry > options.console_poll_ticks) {
            deadline = entry + options.console_poll_ticks;
        }
        vmcs::write(Field::vmx_preemption_timer_value, timer_value_for(entry, deadline, options));
        guest.fast.deadline = deadline;
        guest.fast.root_ticks = 0;
        below.closes_at = closes_at;
        const bool below_allowed = typist == nullptr && (window == nullptr || window->opened);
        guest.fast.below = below_allowed && may_switch_below(guest) ? &below : nullptr;
        const std::uint64_t resume_at = platform::rdtsc();
        scheduler.on_reentry(d.guest, resume_at, injected);
        if (root_slot != nullptr) root_slot->add(resume_at - root_since);
        root_slot = nullptr;
        if (guest.counters.first_entry_tsc == 0) guest.counters.first_entry_tsc = resume_at;
        const EntryResult r = platform::enter(guest);
        // The guest that exited: another than the one entered where slots were switched below.
        Vcpu& g = r.guest != nullptr ? *r.guest : guest;
        current = &g;
        if (!r.exited) {
            stop_failed_entry(g, r);
            scheduler.on_exit(g.index, platform::rdtsc(), ExitCause::dead, g.fast.root_ticks);
            if (!g.ready) {
                g.ready = true;
                ++arrived;
            }
            continue;
        }
        g.launched = true;
        if (below.switch_failed) {
            // Told to the scheduler already; the guest that was to follow is stopped.
            below.switch_failed = false;
            current = nullptr;
            continue;
        }
        const std::uint16_t basic = g.fast.reason;
        root_slot = basic < exit_reason::count ? &g.counters.root_ticks[basic] : nullptr;
        root_since = g.fast.exit_tsc;
        const auto outcome = static_cast<ExitOutcome>(g.fast.outcome);
        if (outcome != ExitOutcome::stopped) reinject_interrupted_event();
        if (outcome == ExitOutcome::timer_changed) scheduler.set_timer(g.index, pc_timer_due_host(g));
        exit.t_exit = g.fast.exit_tsc;
        exit.cause = cause_of(outcome);
        exit.root_inside = g.fast.root_ticks;
        if (typist != nullptr) {
            scheduler.on_exit(g.index, exit.t_exit, exit.cause, exit.root_inside);
        } else {
            exit.guest = &g;
        }
        if (outcome == ExitOutcome::ready || (outcome == ExitOutcome::stopped && !g.ready)) {
            g.ready = true;
            ++arrived;
        }
    }
    for (Vcpu* g = guests; g != guests + count; ++g) g->fast.below = nullptr;
    if (exit.guest != nullptr) scheduler.on_exit(exit.guest->index, exit.t_exit, exit.cause, exit.root_inside);
    scheduler.end(platform::rdtsc());
    if (window != nullptr && window->opened) window->end = scheduler.charged_until();
}

namespace {

// switch_below_loop for an exit of `cause`: a constant, so that the commonest switch (a running
// guest's slot ends) carries nothing of the others. `root`: the exit reason's root-mode ticks.
template <ExitCause cause>
[[gnu::always_inline]] inline bool switch_below(Vcpu& guest, std::uint64_t exited, RootTicks& root) {
    guest.launched = true; // it exited: its next entry is a VMRESUME, whoever makes it
    SwitchBelow& below = *guest.fast.below;
    Scheduler& scheduler = *below.scheduler;
    const std::uint64_t now = platform::rdtsc();
    if (now >= below.closes_at) return false; // the window has closed: the run loop stops
    const std::size_t h = scheduler.short_switch_guest(guest.index, exited, cause, now);
    if (h >= below.count) return false;
    Vcpu& next = below.guests[h];
    // Resumed from this frame: launched, and entered from it before (its HOST_RSP is this one).
    if (!next.launched || next.host_rsp != guest.host_rsp || !may_switch_below(next)) return false;
    reinject_interrupted_event();
    const Decision d = scheduler.short_switch(guest.index, exited, cause, guest.fast.root_ticks, now);
    if (&next != &guest && !platform::switch_to(&guest, next)) {
        stop_unloadable(next, scheduler);
        below.switch_failed = true;
        return false;
    }
    platform::background(now);
    std::uint64_t deadline = d.timer_deadline < below.closes_at ? d.timer_deadline : below.closes_at;
    const bool injected = prepare_entry(next, d, scheduler, deadline);
    const std::uint64_t entry = platform::rdtsc();
    vmcs::write(Field::vmx_preemption_timer_value, timer_value_for(entry, deadline, *below.options));
    next.fast.deadline = deadline;
    next.fast.root_ticks = 0;
    next.fast.below = &below;
    guest.resume_next = &next;
    const std::uint64_t resume_at = platform::rdtsc();
    scheduler.enter_after_short_switch(h, resume_at, injected);
    root.add(resume_at - exited);
    return true;
}

[[gnu::noinline]] bool switch_below_halted(Vcpu& guest, std::uint64_t exited) {
    return switch_below<ExitCause::halted_native_at_preemption>(guest, exited,
                                                                guest.counters.root_ticks[exit_reason::preemption_timer]);
}

} // namespace

bool switch_below_after_handled(Vcpu& guest, std::uint64_t exited, RootTicks& root) {
    return switch_below<ExitCause::handled>(guest, exited, root); // exit_fast: no reload is owed
}

bool switch_below_loop(Vcpu& guest, std::uint64_t exited) {
    // A preemption-timer exit of a running guest (cause_of's `timer`) or of one that sat in HLT
    // inside guest mode (`halted_native_at_preemption`).
    if (vmcs::read(Field::guest_activity_state) == activity::hlt) return switch_below_halted(guest, exited);
    return switch_below<ExitCause::timer>(guest, exited, guest.counters.root_ticks[exit_reason::preemption_timer]);
}

} // namespace vmx
