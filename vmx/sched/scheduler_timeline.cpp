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

} // namespace vmx
