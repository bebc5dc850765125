// How long and how often each row measures: one place for every count, time
// limit and budget, for the full run and for --quick.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "role_args.hpp"

namespace shmbus::bench {

struct bench_plan {
  /// Untimed round trips before the timed ones.
  std::size_t warmup = 2000;
  /// Timed round trips of an RTT row (BENCH.md: >= 10 000).
  std::size_t samples = 20000;
  /// Each round-trip loop also stops at its time limit, so a mechanism with
  /// millisecond round trips (a busy poller sharing its core, say) ends with
  /// fewer samples instead of running for minutes.
  std::chrono::milliseconds warmup_limit{1000};
  std::chrono::milliseconds sample_limit{8000};
  /// Sending time of a stream row (BENCH.md: >= 1 s).
  std::chrono::milliseconds stream_duration{1000};
  /// Window of an idle-CPU row; /proc counts 10 ms ticks.
  std::chrono::milliseconds idle_window{2000};

  static bench_plan full();
  static bench_plan quick();

  /// Hands the plan to a child role and reads it back there.
  void write_to(role_args& args) const;
  static bench_plan read_from(const role_args& args);

  /// Everything a row does, plus a margin for process and CAF start-up: a
  /// row that needs longer is broken, not slow.
  std::chrono::milliseconds row_budget() const;

  /// "2000 untimed round trips, then 20000 timed (each loop stops after ...)".
  std::string describe_rtt() const;
};

} // namespace shmbus::bench
