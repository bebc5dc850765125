#include "shmbus/supervision/restart_intensity.hpp"

#include <algorithm>

namespace shmbus::supervision {

restart_intensity::restart_intensity(size_t max_restarts, caf::timespan period)
  : max_restarts_(max_restarts), period_(period) {
  // nop
}

bool restart_intensity::add_restart(time_point now) {
  forget_before(now);
  restarts_.push_back(now);
  if (restarts_.size() <= max_restarts_)
    return true;
  // Keep the deque bounded even if the caller ignores the verdict.
  restarts_.pop_front();
  return false;
}

size_t restart_intensity::restarts_within_period(time_point now) const {
  auto threshold = now - period_;
  return static_cast<size_t>(std::count_if(
    restarts_.begin(), restarts_.end(),
    [threshold](time_point t) { return t > threshold; }));
}

void restart_intensity::forget_before(time_point now) {
  auto threshold = now - period_;
  while (!restarts_.empty() && restarts_.front() <= threshold)
    restarts_.pop_front();
}

} // namespace shmbus::supervision
