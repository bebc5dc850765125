#include "shmbus/supervision/backoff_options.hpp"

#include <algorithm>
#include <cmath>

#include <caf/sec.hpp>

namespace shmbus::supervision {

caf::timespan backoff_options::delay_for(size_t attempt,
                                         double unit_random) const noexcept {
  // Double in floating point: 2^attempt overflows integers long before the
  // cap is irrelevant.
  auto base = static_cast<double>(min_delay.count())
              * std::pow(2.0, static_cast<double>(std::min<size_t>(attempt, 62)));
  base = std::min(base, static_cast<double>(max_delay.count()));
  auto stretched = base * (1.0 + random_factor * std::clamp(unit_random, 0.0, 1.0));
  return caf::timespan{static_cast<caf::timespan::rep>(stretched)};
}

caf::error backoff_options::validate() const {
  if (min_delay <= caf::timespan::zero())
    return caf::make_error(caf::sec::invalid_argument,
                           "backoff: min_delay must be positive");
  if (max_delay < min_delay)
    return caf::make_error(caf::sec::invalid_argument,
                           "backoff: max_delay must not be below min_delay");
  if (!(random_factor >= 0.0) || random_factor > 10.0)
    return caf::make_error(caf::sec::invalid_argument,
                           "backoff: random_factor must be in [0, 10]");
  if (reset_after < caf::timespan::zero())
    return caf::make_error(caf::sec::invalid_argument,
                           "backoff: reset_after must not be negative");
  return caf::none;
}

} // namespace shmbus::supervision
