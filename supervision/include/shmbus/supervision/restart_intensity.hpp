// OTP's restart intensity: a supervisor that restarts more than `max_restarts`
// times within `period` gives up, so a broken child cannot spin forever.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>

#include <caf/timespan.hpp>

#include "shmbus/supervision/fwd.hpp"

namespace shmbus::supervision {

class restart_intensity {
public:
  using clock_type = std::chrono::steady_clock;
  using time_point = clock_type::time_point;

  restart_intensity(size_t max_restarts, caf::timespan period);

  /// Records a restart at `now`. Returns false when it makes more than
  /// `max_restarts` restarts within the last `period` (then give up).
  bool add_restart(time_point now);

  /// Restarts recorded within `period` before `now`.
  size_t restarts_within_period(time_point now) const;

  size_t max_restarts() const noexcept {
    return max_restarts_;
  }

  caf::timespan period() const noexcept {
    return period_;
  }

private:
  void forget_before(time_point now);

  size_t max_restarts_;
  caf::timespan period_;
  std::deque<time_point> restarts_; // oldest first, at most max_restarts_ + 1
};

} // namespace shmbus::supervision
