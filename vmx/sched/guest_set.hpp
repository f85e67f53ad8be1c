// A set of guest indices as a bitmap, with the one search round robin and the `fixed` frame need:
// the first member at or after a position, wrapping around. It looks at max_guests / 64 words at
// most (4 for 256 guests) plus one, whatever the number of guests and members: the scheduler's
// "who is next" without a scan over the guests (vmx/sched/scheduler.hpp).
#pragma once
#include "vmx/lib/guest_limit.hpp"

#include <cstddef>
#include <cstdint>

namespace vmx {

class GuestSet {
  public:
    static constexpr std::size_t none = max_guests;

    void clear() {
        for (std::uint64_t& w : words_) w = 0;
    }
    void insert(std::size_t g) { words_[g / 64] |= bit(g); }
    void erase(std::size_t g) { words_[g / 64] &= ~bit(g); }
    bool contains(std::size_t g) const { return (words_[g / 64] & bit(g)) != 0; }

    // The first member at or after `from` (< max_guests), else the first member before it; `none`
    // when the set is empty.
    std::size_t next_cyclic(std::size_t from) const {
        std::size_t w = from / 64;
        std::uint64_t bits = words_[w] & (~std::uint64_t{0} << (from % 64));
        for (std::size_t step = 0; step <= kWords; ++step) {
            if (bits != 0) return w * 64 + static_cast<std::size_t>(__builtin_ctzll(bits));
            w = w + 1 == kWords ? 0 : w + 1;
            bits = words_[w];
        }
        return none;
    }

  private:
    static constexpr std::size_t kWords = (max_guests + 63) / 64;
    static constexpr std::uint64_t bit(std::size_t g) { return std::uint64_t{1} << (g % 64); }

    std::uint64_t words_[kWords] = {};
};

} // namespace vmx
