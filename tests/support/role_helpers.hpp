// Helpers of the child roles: reading their key=value arguments and waiting
// for a stop signal with a limit.
#pragma once

#include <chrono>
#include <csignal>
#include <ctime>
#include <string>
#include <vector>

#include <pthread.h>

namespace shmbus::test {

/// The values of every `key=VALUE` argument, in order.
inline std::vector<std::string> values_of(const std::vector<std::string>& args,
                                          const std::string& key) {
  std::vector<std::string> result;
  for (auto& x : args)
    if (x.rfind(key + "=", 0) == 0)
      result.push_back(x.substr(key.size() + 1));
  return result;
}

inline bool has_flag(const std::vector<std::string>& args,
                     const std::string& flag) {
  for (auto& x : args)
    if (x == flag)
      return true;
  return false;
}

/// Blocks the stop signals in every thread created afterwards, so that only
/// wait_for_stop_signal() sees them.
inline void block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

/// True once SIGTERM (blocked by block_stop_signals()) is pending: for a
/// child that works in a loop instead of waiting.
inline bool stop_requested() {
  sigset_t pending;
  sigpending(&pending);
  return sigismember(&pending, SIGTERM) == 1;
}

/// Waits for SIGTERM or SIGINT, at most `limit` (a child never outlives a
/// broken test for long).
inline int wait_for_stop_signal(std::chrono::seconds limit) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  timespec ts{static_cast<time_t>(limit.count()), 0};
  return sigtimedwait(&set, nullptr, &ts);
}

} // namespace shmbus::test
