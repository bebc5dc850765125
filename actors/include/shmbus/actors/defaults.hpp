// Every default time and limit of module processes, in one place. The
// supervisor's own defaults are in shmbus/supervision/defaults.hpp, the
// deadline for reaping a killed process in shmbus/process/defaults.hpp.
#pragma once

#include <chrono>

#include <caf/timespan.hpp>

#include "shmbus/supervision/defaults.hpp"

namespace shmbus::actors::defaults {

using namespace std::chrono_literals;

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

/// run_module stops its actors one by one, newest first, each awaited until
/// its down_msg; all of them within this time (what is left then is
/// killed), so that a module asked to stop ends before its SIGTERM.
constexpr caf::timespan module_actors_stop_timeout = 2s;

/// How long the start of a remote child waits for its host to publish its
/// name (see remote_child.hpp): longer than the down_msg of a killed module
/// takes to reach its supervisor, so that the module's comes first.
constexpr caf::timespan remote_child_host_wait = 2s;

/// How long the spawn of a remote child in its host may take.
constexpr caf::timespan remote_child_spawn_timeout = 5s;

static_assert(remote_child_host_wait > module_loss_report_grace,
              "a remote child's start outwaits the down_msg of its lost host module");
static_assert(module_actors_stop_timeout < module_term_after,
              "a module stops its actors before the SIGTERM of a stop");
static_assert(module_term_after < module_kill_after,
              "SIGTERM must come before SIGKILL when a module stops");
static_assert(supervision::defaults::call_timeout
                > module_kill_after + module_reap_margin
                    + supervision::defaults::kill_timeout,
              "a terminate_child call must outlive the stop of a module");

} // namespace shmbus::actors::defaults
