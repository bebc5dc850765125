// What shmbus-launch runs and how it restarts it. launcher_config fills it
// from the command line and caf-application.ini; a program may also fill
// it itself and run a launcher (launcher.hpp).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/timespan.hpp>

#include "shmbus/actors/fwd.hpp"

namespace shmbus::actors {

struct launcher_options {
  /// The bus whose server runs under this launcher.
  std::string bus;
  std::string executable;
  /// The server's arguments. The launcher appends `--shmbus.bus=<bus>`,
  /// `--shmbus.role=server` and `--shmbus.wait-for-clients=<...>` unless
  /// they are among them.
  std::vector<std::string> args;
  /// Backoff between restarts: the first waits `restart_delay`, each next
  /// one twice as long up to `max_restart_delay`; a server that ran for
  /// `restart_period` starts over at `restart_delay`.
  caf::timespan restart_delay = std::chrono::milliseconds{100};
  caf::timespan max_restart_delay = std::chrono::seconds{5};
  /// More than `max_restarts` restarts within `restart_period`: give up.
  size_t max_restarts = 5;
  caf::timespan restart_period = std::chrono::seconds{60};
  /// After forwarding SIGTERM/SIGINT, SIGKILL the server this much later.
  caf::timespan stop_timeout = std::chrono::seconds{10};
  /// After the server died: how long its orphaned children (modules, which
  /// exit when they lose their server) get before they are SIGKILLed and a
  /// new server starts.
  caf::timespan orphan_timeout = std::chrono::seconds{5};
  /// Passed to the server as --shmbus.wait-for-clients: clients of the
  /// previous server that are not our descendants get that long to exit.
  caf::timespan wait_for_clients = std::chrono::seconds{5};

  /// The arguments the server gets.
  std::vector<std::string> server_arguments() const;

  /// A description of what is wrong (naming the option), or none.
  caf::error validate() const;
};

/// "250 ms", "5 s".
std::string describe_duration(caf::timespan x);

} // namespace shmbus::actors
