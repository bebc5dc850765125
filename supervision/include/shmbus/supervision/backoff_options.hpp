// Exponential backoff between restarts, with the semantics of Akka's
// BackoffSupervisor.
#pragma once

#include <cstddef>

#include <caf/error.hpp>
#include <caf/timespan.hpp>

#include "shmbus/supervision/defaults.hpp"
#include "shmbus/supervision/fwd.hpp"

namespace shmbus::supervision {

/// The n-th consecutive restart of a child (n = 0, 1, ...) waits
/// `min(max_delay, min_delay * 2^n) * (1 + random_factor * u)`, u uniform in
/// [0, 1). Like Akka, the random stretch applies after the cap, so a delay may
/// exceed `max_delay` by up to `random_factor`. A child that ran for
/// `reset_after` before failing starts over at n = 0.
struct backoff_options {
  caf::timespan min_delay = defaults::backoff_min_delay;
  caf::timespan max_delay = defaults::backoff_max_delay;
  double random_factor = defaults::backoff_random_factor;
  caf::timespan reset_after = defaults::backoff_reset_after;

  /// Delay before restart number `attempt` (0-based); `unit_random` in [0, 1).
  caf::timespan delay_for(size_t attempt, double unit_random) const noexcept;

  /// A description of what is wrong, or none.
  caf::error validate() const;
};

} // namespace shmbus::supervision
