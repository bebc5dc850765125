// Runs one row as a pair of fresh processes: B (the peer) starts first and
// announces an address; A (the driver) connects, measures and writes its
// measurement back. The parent only waits, so it never competes for a core.
//
// Child protocol on stdout, one line each:
//   B: "ready <address>"                     (A may connect now)
//   A: measurement lines, then "end"         (see measurement.hpp)
//   either: "error <message>"                (the row fails with it)
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "placement.hpp"
#include "report.hpp"
#include "role_args.hpp"

namespace shmbus::bench {

struct pair_spec {
  /// Roles run are "<suite>-a" and "<suite>-b".
  std::string suite;
  std::string bench;
  std::string mechanism;
  std::optional<std::size_t> payload_bytes;
  placement where;
  /// False for in-process mechanisms: A runs alone.
  bool with_peer = true;
  /// Bench parameters handed to both roles (samples, duration_ms, ...).
  role_args params;
  /// Everything, from starting B to reaping both, must fit in this.
  std::chrono::milliseconds budget{60000};
};

/// Runs `spec` and returns its row; failures become the row's `error`.
row run_pair(const pair_spec& spec);

/// Body of a role: gets its arguments, returns the exit code.
using role_main = int (*)(const role_args& args);

/// Runs a role's body in the child: becomes a child of `parent=` (dies with
/// it), pins to `core=`, and turns an exception into an "error" line.
int run_role(role_main body, const role_args& args);

/// In B: tells the parent that A may connect to `address`.
void announce_ready(const std::string& address);

} // namespace shmbus::bench
