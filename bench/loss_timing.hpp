// Timing a loss (failover and remote benchmarks): a one-shot stamp set by
// another thread, an actor that stamps the down_msg of the actor it
// monitors, and the millisecond summary of such timings.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "clock.hpp"
#include "measurement.hpp"
#include "stats.hpp"

namespace shmbus::bench {

/// A one-shot time stamp set by another thread.
class stamp {
public:
  void set() {
    std::lock_guard<std::mutex> guard(mtx_);
    if (!at_)
      at_ = mono_clock::now();
    cv_.notify_all();
  }
  std::optional<mono_clock::time_point> wait(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> guard(mtx_);
    cv_.wait_for(guard, timeout, [&] { return at_.has_value(); });
    return at_;
  }
  void reset() {
    std::lock_guard<std::mutex> guard(mtx_);
    at_.reset();
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  std::optional<mono_clock::time_point> at_;
};

/// Monitors `target` and stamps when its down_msg arrives; answers ok_atom
/// (the monitor is in place once it did).
inline caf::behavior monitor_once(caf::event_based_actor* self, caf::actor target,
                                  std::shared_ptr<stamp> down) {
  self->monitor(target);
  self->set_down_handler([self, down](caf::down_msg&) {
    down->set();
    self->quit();
  });
  return {[](caf::ok_atom) {}};
}

/// Adds `<prefix>_median`, `_p99` and `_max` of `ms` (milliseconds) to `m`.
inline void add_summary(measurement& m, const std::string& prefix, const std::vector<double>& ms) {
  std::vector<double> us;
  for (auto x : ms)
    us.push_back(x * 1000.0);
  auto s = summarize(us);
  m.add(prefix + "_median", s.median_us / 1000.0);
  m.add(prefix + "_p99", s.p99_us / 1000.0);
  m.add(prefix + "_max", s.max_us / 1000.0);
}

} // namespace shmbus::bench
