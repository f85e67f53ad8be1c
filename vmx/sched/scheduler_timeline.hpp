// Which guest had the CPU when, for the first part of a run: a bounded trace of spans that the
// report prints and the host tool plots (README, "The report"). Fixed storage
// (no heap): spans past the capacity are counted, not kept.
//
// The scheduler records every tick it charges while the trace window is open: the owner's
// slice time (guest mode plus exit handling inside the slice) as `running`, idling on a guest's
// behalf as `halted`, and idling on nobody's behalf as `idle`. Switching time between slices is
// not recorded: it shows as a gap. Adjacent pieces of the same guest and kind merge into one span,
// so a slice cut by many exits is still one span.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vmx {

enum class SpanKind : std::uint8_t { running, halted, idle };
const char* span_kind_name(SpanKind kind);

struct Span {
    std::size_t guest = 0;  // meaningless for `idle`
    SpanKind kind = SpanKind::idle;
    std::uint64_t start = 0; // absolute TSC
    std::uint64_t end = 0;
};

class Timeline {
  public:
    static constexpr std::size_t capacity = 1024;

    // Starts recording at `start`; only time before `start + window` is kept (window 0: off).
    void reset(std::uint64_t start, std::uint64_t window);
    // [from, to) went to `guest` as `kind`; clipped to the window. Inline, with what it records:
    // the scheduler calls it per charge, the slice switch included, and once the window has
    // passed, as for most of a run, it costs one comparison.
    void add(std::size_t guest, SpanKind kind, std::uint64_t from, std::uint64_t to) {
        if (from >= end_ || from < start_ || to <= from) return;
        if (to > end_) to = end_;
        if (kind == SpanKind::idle) guest = 0;
        if (count_ != 0) {
            Span& last = spans_[count_ - 1];
            if (last.guest == guest && last.kind == kind && last.end == from) {
                last.end = to;
                return;
            }
        }
        if (count_ == capacity) {
            ++dropped_;
            return;
        }
        spans_[count_++] = Span{guest, kind, from, to};
    }

    std::size_t count() const { return count_; }
    const Span& at(std::size_t i) const { return spans_[i]; }
    std::uint64_t start() const { return start_; }
    std::uint64_t window() const { return window_; }
    // Spans that did not fit (the trace is then complete only up to the last kept span).
    std::uint64_t dropped() const { return dropped_; }

  private:
    Span spans_[capacity]{};
    std::size_t count_ = 0;
    std::uint64_t start_ = 0;
    std::uint64_t window_ = 0;
    std::uint64_t end_ = 0; // start_ + window_, saturated; nothing at or after it is kept
    std::uint64_t dropped_ = 0;
};

} // namespace vmx
