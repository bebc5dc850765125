// How a consumer waits for its next record: burn a core for the lowest
// latency, park at once for the lowest CPU use, or spin for a time budget
// first. Budgets are times, not poll counts: a poll's cost varies with the
// machine, the latency it buys does not. (inbox_consumer carries the
// strategy out; the functions here are pure and thread-safe.)
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "shmbus/transport/config.hpp"

namespace shmbus::transport {

enum class idle_kind { busy_spin, adaptive, park };

struct idle_strategy {
  idle_kind kind = idle_kind::adaptive;
  /// adaptive: busy-poll this long after the last record...
  std::chrono::nanoseconds spin = defaults::spin_budget;
  /// ...then sched_yield() between polls this long, then park.
  std::chrono::nanoseconds yield = defaults::yield_budget;

  static idle_strategy busy_spin() { return {idle_kind::busy_spin, {}, {}}; }
  static idle_strategy park() { return {idle_kind::park, {}, {}}; }
  static idle_strategy adaptive(std::chrono::nanoseconds spin = defaults::spin_budget,
                                std::chrono::nanoseconds yield = defaults::yield_budget) {
    return {idle_kind::adaptive, spin, yield};
  }
};

/// "busy-spin", "adaptive" or "park".
const char* to_string(idle_kind x) noexcept;

/// Parses "busy-spin", "park", "adaptive" or "adaptive:<spin us>:<yield us>".
std::optional<idle_strategy> parse_idle_strategy(std::string_view text);

/// Text form of `x` that parse_idle_strategy reads back.
std::string to_string(const idle_strategy& x);

} // namespace shmbus::transport
