// Monotonic time for benchmarks: one clock for every timed span and every
// deadline, so no measurement mixes clocks.
#pragma once

#include <chrono>
#include <cstdint>

namespace shmbus::bench {

/// CLOCK_MONOTONIC on Linux (read through the vDSO, ~20 ns).
using mono_clock = std::chrono::steady_clock;

inline std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           mono_clock::now().time_since_epoch())
    .count();
}

inline double seconds_between(mono_clock::time_point from,
                              mono_clock::time_point to) noexcept {
  return std::chrono::duration<double>(to - from).count();
}

/// A point in time after which a wait gives up.
class deadline {
public:
  explicit deadline(mono_clock::duration budget) noexcept
    : until_(mono_clock::now() + budget) {
    // nop
  }

  bool expired() const noexcept {
    return mono_clock::now() >= until_;
  }

  /// Time left, never negative, rounded up so a poll() never spins at 0 ms
  /// while time remains.
  std::chrono::milliseconds remaining() const noexcept {
    auto left = until_ - mono_clock::now();
    if (left <= mono_clock::duration::zero())
      return std::chrono::milliseconds{0};
    return std::chrono::ceil<std::chrono::milliseconds>(left);
  }

  mono_clock::time_point until() const noexcept {
    return until_;
  }

private:
  mono_clock::time_point until_;
};

} // namespace shmbus::bench
