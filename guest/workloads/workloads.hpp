// The built-in workloads, one file each; dispatch.cpp picks one by the start-info image name.
#pragma once
#include "runtime/guest.hpp"

namespace workloads {

using guest::StartInfo;

void spin(const StartInfo& info);
void idle(const StartInfo& info);
void exitstorm(const StartInfo& info);
void crash(const StartInfo& info);
void powerdown(const StartInfo& info);
void bursty(const StartInfo& info);
void capacity(const StartInfo& info);
void vmexit(const StartInfo& info);

// Spins (progress + 1 per iteration) until `param` ticks have been taken, or `default_ticks` when
// param is 0; without a tick, for `param` iterations, or `default_iterations` when param is 0.
// Prints one line saying which, prefixed with `who`.
void work_then_stop(const StartInfo& info, const char* who, std::uint64_t default_ticks,
                    std::uint64_t default_iterations);

} // namespace workloads
