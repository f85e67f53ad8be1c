// A lock for what the CPUs share outside their hot paths (the console queue): a test-and-set on
// one word, spinning on a plain read with PAUSE between tries. Nothing on a slice switch or an
// exit handler's path takes one except the boot CPU's console pump, which finds it free unless
// another CPU's guest is queueing a line at that instant.
#pragma once
#include <cstdint>

namespace vmx {

class SpinLock {
  public:
    void lock() {
        while (__atomic_exchange_n(&held_, 1u, __ATOMIC_ACQUIRE) != 0) {
            while (__atomic_load_n(&held_, __ATOMIC_RELAXED) != 0) asm volatile("pause");
        }
    }
    void unlock() { __atomic_store_n(&held_, 0u, __ATOMIC_RELEASE); }

  private:
    std::uint32_t held_ = 0;
};

// Holds a SpinLock for the lifetime of a scope.
class SpinLockHeld {
  public:
    explicit SpinLockHeld(SpinLock& lock) : lock_(lock) { lock_.lock(); }
    ~SpinLockHeld() { lock_.unlock(); }
    SpinLockHeld(const SpinLockHeld&) = delete;
    SpinLockHeld& operator=(const SpinLockHeld&) = delete;

  private:
    SpinLock& lock_;
};

} // namespace vmx
