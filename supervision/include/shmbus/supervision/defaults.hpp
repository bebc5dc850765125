// Every default time and limit of the supervision layer, in one place.
#pragma once

#include <chrono>
#include <cstddef>

#include <caf/timespan.hpp>

namespace shmbus::actors::defaults {

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

// -- module processes ---------------------------------------------------------

/// How long a module process has to publish its names after it was spawned.
constexpr caf::timespan module_start_timeout = 10s;

/// Stopping a module: a stop request over the bus first; SIGTERM if it still
/// runs this long after the request ...
constexpr caf::timespan module_term_after = 3s;

/// ... and SIGKILL this long after the request.
constexpr caf::timespan module_kill_after = 5s;

/// What the supervisor's shutdown timeout of a module adds to
/// `kill_after`, so that the module actor's own SIGKILL and reaping come
/// first and its exit reason says what happened.
constexpr caf::timespan module_reap_margin = 1s;

/// After the process ended, how long the module actor waits for the bus to
/// report the loss (the down_msgs of the published actors) before it decides
/// between "killed" and "hung". The bus reports it within milliseconds.
constexpr caf::timespan module_loss_report_grace = 1s;

/// A published actor of a running module went down, or the bus declared the
/// module lost while its process still runs: how long the process gets to end
/// on its own before it is stopped (resp. killed).
constexpr caf::timespan module_orphan_grace = 1s;

/// Longest wait for a SIGKILLed process to be reaped in the paths that must
/// not leave a zombie (module actor killed, process-wide clean-up at exit,
/// the launcher's orphans). A SIGKILLed process ends at once unless it is
/// stuck in the kernel.
constexpr caf::timespan reap_timeout = 5s;

static_assert(period > caf::timespan::zero(), "the intensity period must be positive");
static_assert(backoff_min_delay <= backoff_max_delay,
              "the minimal backoff must not exceed the maximal one");
static_assert(call_timeout > worker_shutdown_timeout + kill_timeout,
              "a terminate_child call must outlive the stop it waits for");
static_assert(module_term_after < module_kill_after,
              "SIGTERM must come before SIGKILL when a module stops");
static_assert(call_timeout > module_kill_after + module_reap_margin + kill_timeout,
              "a terminate_child call must outlive the stop of a module");

} // namespace shmbus::actors::defaults
