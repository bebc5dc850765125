// The settings of shmbus-launch, the CAF way: an actor_system_config whose
// options are flags and entries of caf-application.ini (or the file that
// --config-file names), shown by --help and --dump-config:
//
//   shmbus-launch --bus=NAME [--restart-delay=100ms] [--max-restart-delay=5s]
//                 [--max-restarts=5] [--restart-period=60s]
//                 [--stop-timeout=10s] [--orphan-timeout=5s]
//                 [--wait-for-clients=5s] -- SERVER_EXECUTABLE ARGS...
//
//   # /etc/shmbus/nebulas.ini (shmbus-launch --config-file=/etc/shmbus/nebulas.ini)
//   [global]
//   bus="nebulas"
//   restart-delay=200ms
//   server=["/usr/bin/nebulas-node", "--block-interval=1s"]
//
// Flags override the file; a server command after `--` overrides `server`.
// No actor system is made from it: it is a parser and a place for defaults.
#pragma once

#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/error.hpp>

#include "shmbus/actors/fwd.hpp"
#include "shmbus/actors/launcher_options.hpp"

namespace shmbus::actors {

/// Filled by parse() on one thread, then read; not for concurrent use.
class launcher_config : public caf::actor_system_config {
public:
  launcher_config();

  /// Bound to the options; the server command comes from `server` or
  /// from after `--`.
  launcher_options options;

  /// `server` from the file or flags: the executable, then its arguments.
  std::vector<std::string> server;

  /// Parses `args` (without the program name): options before `--`, the
  /// server's command after it. Reads `ini` (default: CAF's
  /// caf-application.ini, or --config-file) first. Afterwards
  /// `cli_helptext_printed` says whether --help or --dump-config printed
  /// something instead. The error names the option and the remedy.
  caf::error parse_command_line(std::vector<std::string> args,
                                const char* ini = nullptr);
};

} // namespace shmbus::actors
