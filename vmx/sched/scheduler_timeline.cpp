#include "vmx/sched/scheduler_timeline.hpp"

namespace vmx {

const char* span_kind_name(SpanKind kind) {
    switch (kind) {
    case SpanKind::running: return "running";
    case SpanKind::halted: return "halted";
    case SpanKind::idle: return "idle";
    }
    return "unknown";
}

void Timeline::reset(std::uint64_t start, std::uint64_t window) {
    count_ = 0;
    dropped_ = 0;
    start_ = start;
    window_ = window;
    end_ = window > ~std::uint64_t{0} - start ? ~std::uint64_t{0} : start + window;
}

// Called by add() only for `from` before end_ (so with a window: end_ is start_ without one).
void Timeline::record(std::size_t guest, SpanKind kind, std::uint64_t from, std::uint64_t to) {
    if (from < start_ || to <= from) return;
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

} // namespace vmx
