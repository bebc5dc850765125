// Every default time and limit of the supervisor, in one place.
#pragma once

#include <chrono>
#include <cstddef>

#include <caf/timespan.hpp>

namespace shmbus::supervision::defaults {

using namespace std::chrono_literals;

/// OTP: at most 1 restart ...
constexpr size_t intensity = 1;

/// ... within 5 s, or the supervisor gives up.
constexpr caf::timespan period = 5s;

/// OTP: a worker gets 5 s to stop after `exit_reason::user_shutdown`.
constexpr caf::timespan worker_shutdown_timeout = 5s;

/// How long a supervisor waits for the `down_msg` of a child it killed. A CAF
/// actor stuck inside a message handler never processes its kill; the
/// supervisor then records the child as gone rather than hang forever.
constexpr caf::timespan kill_timeout = 5s;

/// Backoff (Akka's BackoffSupervisor): the first restart waits 100 ms ...
constexpr caf::timespan backoff_min_delay = 100ms;

/// ... each further one twice as long, up to 10 s ...
constexpr caf::timespan backoff_max_delay = 10s;

/// ... each stretched by a random 0-20 % so that restarts of many children
/// do not stampede ...
constexpr double backoff_random_factor = 0.2;

/// ... and a child that ran this long without failing starts over at the
/// minimum delay.
constexpr caf::timespan backoff_reset_after = 10s;

/// Deadline of the blocking client calls (start_child, which_children, ...).
/// Generous: terminating a child may take its whole shutdown timeout.
constexpr caf::timespan call_timeout = 60s;

static_assert(period > caf::timespan::zero(), "the intensity period must be positive");
static_assert(backoff_min_delay <= backoff_max_delay,
              "the minimal backoff must not exceed the maximal one");
static_assert(call_timeout > worker_shutdown_timeout + kill_timeout,
              "a terminate_child call must outlive the stop it waits for");

} // namespace shmbus::supervision::defaults
