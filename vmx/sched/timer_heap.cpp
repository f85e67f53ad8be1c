#include "vmx/sched/timer_heap.hpp"

namespace vmx {

void TimerHeap::clear() {
    for (std::size_t i = 0; i < size_; ++i) slot_of_[heap_[i].guest] = 0;
    size_ = 0;
}

void TimerHeap::place(std::size_t i, Entry e) {
    heap_[i] = e;
    slot_of_[e.guest] = static_cast<std::uint16_t>(i + 1);
}

void TimerHeap::sift_up(std::size_t i, Entry e) {
    while (i != 0) {
        const std::size_t parent = (i - 1) / 2;
        if (heap_[parent].time <= e.time) break;
        place(i, heap_[parent]);
        i = parent;
    }
    place(i, e);
}

void TimerHeap::sift_down(std::size_t i, Entry e) {
    for (;;) {
        std::size_t child = 2 * i + 1;
        if (child >= size_) break;
        if (child + 1 < size_ && heap_[child + 1].time < heap_[child].time) ++child;
        if (e.time <= heap_[child].time) break;
        place(i, heap_[child]);
        i = child;
    }
    place(i, e);
}

void TimerHeap::set(std::size_t g, std::uint64_t time) {
    const Entry e{time, static_cast<std::uint16_t>(g)};
    if (slot_of_[g] == 0) {
        sift_up(size_++, e);
        return;
    }
    const std::size_t i = slot_of_[g] - 1u;
    if (time < heap_[i].time) {
        sift_up(i, e);
    } else {
        sift_down(i, e);
    }
}

void TimerHeap::erase(std::size_t g) {
    if (slot_of_[g] == 0) return;
    const std::size_t i = slot_of_[g] - 1u;
    slot_of_[g] = 0;
    const Entry last = heap_[--size_];
    if (i == size_) return;
    // The last entry fills the hole: it may belong above or below it.
    if (i != 0 && last.time < heap_[(i - 1) / 2].time) {
        sift_up(i, last);
    } else {
        sift_down(i, last);
    }
}

} // namespace vmx
