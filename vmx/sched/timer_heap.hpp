// Guests keyed by a TSC time, earliest first: the scheduler's timer queue (virtual ticks due,
// halted guests' wake-ups, `capped` budget periods). A binary min-heap that knows where each
// guest sits in it, so that setting a guest's time or taking it out costs O(log n) and the
// earliest is read in O(1). Fixed storage for max_guests guests, no heap allocation; ties leave
// the order unspecified (every user needs only the earliest time, or all that are due).
#pragma once
#include "vmx/lib/guest_limit.hpp"

#include <cstddef>
#include <cstdint>

namespace vmx {

class TimerHeap {
  public:
    void clear();
    bool empty() const { return size_ == 0; }
    bool contains(std::size_t g) const { return slot_of_[g] != 0; }
    // The earliest guest and its time; ~0 (never) when empty.
    std::size_t top() const { return heap_[0].guest; }
    std::uint64_t top_time() const { return size_ == 0 ? ~std::uint64_t{0} : heap_[0].time; }
    // Puts g in at `time`, or moves it there.
    void set(std::size_t g, std::uint64_t time);
    // Takes g out (nothing if it is not in).
    void erase(std::size_t g);

  private:
    struct Entry {
        std::uint64_t time = 0;
        std::uint16_t guest = 0;
    };
    static_assert(max_guests < 0xffff, "guest indices and slots are 16 bits");

    void place(std::size_t i, Entry e); // heap_[i] = e, and its guest's slot
    void sift_up(std::size_t i, Entry e);
    void sift_down(std::size_t i, Entry e);

    Entry heap_[max_guests]{};
    std::uint16_t slot_of_[max_guests] = {}; // 1 + its index in heap_; 0 = not in
    std::size_t size_ = 0;
};

} // namespace vmx
