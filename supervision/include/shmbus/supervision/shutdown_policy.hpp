// How a supervisor stops one of its children (OTP's `shutdown` field).
#pragma once

#include <cstdint>
#include <string>

#include <caf/timespan.hpp>

#include "shmbus/supervision/defaults.hpp"
#include "shmbus/supervision/fwd.hpp"

namespace shmbus::supervision {

enum class shutdown_mode : uint8_t {
  /// Send `exit_reason::kill` at once.
  brutal_kill,
  /// Send `exit_reason::user_shutdown`, wait for the `down_msg` up to the
  /// timeout, then kill.
  timeout,
  /// Send `exit_reason::user_shutdown` and wait as long as it takes; the OTP
  /// default for supervisors, which need the time to stop their own children.
  infinity,
};

std::string to_string(shutdown_mode x);

struct shutdown_policy {
  shutdown_mode mode = shutdown_mode::timeout;
  /// Only used by `shutdown_mode::timeout`.
  caf::timespan timeout = defaults::worker_shutdown_timeout;

  static shutdown_policy brutal_kill() noexcept {
    return {shutdown_mode::brutal_kill, caf::timespan::zero()};
  }

  static shutdown_policy timeout_after(caf::timespan timeout) noexcept {
    return {shutdown_mode::timeout, timeout};
  }

  static shutdown_policy infinity() noexcept {
    return {shutdown_mode::infinity, caf::timespan::zero()};
  }
};

bool operator==(const shutdown_policy& x, const shutdown_policy& y) noexcept;

inline bool operator!=(const shutdown_policy& x,
                       const shutdown_policy& y) noexcept {
  return !(x == y);
}

/// E.g. "timeout(500ms)".
std::string to_string(const shutdown_policy& x);

} // namespace shmbus::supervision
