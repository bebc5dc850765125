// How a supervisor reacts to failures: strategy, intensity, backoff.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <caf/error.hpp>
#include <caf/timespan.hpp>

#include "shmbus/supervision/backoff_options.hpp"
#include "shmbus/supervision/defaults.hpp"
#include "shmbus/supervision/fwd.hpp"

namespace shmbus::supervision {

/// Which children restart when one of them fails (OTP's strategies).
enum class restart_strategy : uint8_t {
  /// Only the failed child.
  one_for_one,
  /// All children: the failed one's siblings are stopped (reverse start
  /// order) and all are started again in start order.
  one_for_all,
  /// The failed child and the children started after it.
  rest_for_one,
  /// `one_for_one` over children started at run time from one template spec
  /// with extra arguments; they have generated ids and no order.
  simple_one_for_one,
};

std::string to_string(restart_strategy x);

struct supervisor_flags {
  restart_strategy strategy = restart_strategy::one_for_one;

  /// More than `intensity` restarts within `period` make the supervisor stop
  /// all children and exit with `errc::restart_intensity_exceeded`.
  size_t intensity = defaults::intensity;
  caf::timespan period = defaults::period;

  /// Unset: restart at once (OTP). Set: wait between restarts (Akka).
  std::optional<backoff_options> backoff;

  /// How long to wait for the `down_msg` of a killed child before recording
  /// it as gone.
  caf::timespan kill_timeout = defaults::kill_timeout;

  /// Names the supervisor in its errors; empty is fine.
  std::string name;

  /// Learns about every change of the children (supervisor_observer.hpp).
  /// Unset: the process-wide factory's (set_observer_factory), if any.
  std::shared_ptr<supervisor_observer> observer;

  /// Source of time for the intensity window and the backoff reset (not for
  /// timers). Empty: `std::chrono::steady_clock::now`. Tests inject one.
  std::function<std::chrono::steady_clock::time_point()> clock;

  /// A description of what is wrong, or none.
  caf::error validate() const;
};

} // namespace shmbus::supervision
