// CPU time a process has used, from /proc: tells what a mechanism costs while
// idle or per message, beside what it achieves.
#pragma once

#include <chrono>

#include <sys/types.h>

namespace shmbus::bench {

/// utime + stime of all threads of `pid` (0: this process), from
/// /proc/<pid>/stat. Resolution is one clock tick (10 ms at USER_HZ=100), so
/// sample over seconds, not milliseconds. Throws std::runtime_error when the
/// process is gone.
std::chrono::microseconds process_cpu_time(pid_t pid = 0);

/// CPU time of a process over a wall-clock window, as percent of one core.
class cpu_sampler {
public:
  explicit cpu_sampler(pid_t pid = 0);

  /// Percent of one core used since construction (or the last restart).
  double percent_of_core() const;

  /// CPU time used since construction (or the last restart).
  std::chrono::microseconds used() const;

  void restart();

private:
  pid_t pid_;
  std::chrono::microseconds cpu_start_;
  std::chrono::steady_clock::time_point wall_start_;
};

} // namespace shmbus::bench
