// A module: an OS process that joins the bus and publishes actors, supervised
// like any other child. module_child() turns its description into a child
// spec for a supervisor of the process that runs the bus server:
//
//   module_spec storage;
//   storage.name = "storage";
//   storage.executable = "/usr/lib/nebulas/nebulas-module";
//   storage.args = {"--module=storage"};
//   storage.publishes = {"storage"};
//   auto sup = supervision::start_supervisor(sys, flags,
//                                            {module_child(storage, bus)});
//
// The child's handle is a local actor that stands for the process: it goes
// down when the process ends, with an exit reason that says how
// (actors::errc::module_exited, module_killed, module_hung;
// exit_reason::normal for code 0), and stopping it stops the process: a stop
// request over the bus, then SIGTERM, then SIGKILL. No process is ever left
// unreaped (shmbus::process::os_process spawns and reaps it).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/error.hpp>
#include <caf/timespan.hpp>

#include "shmbus/actors/defaults.hpp"
#include "shmbus/actors/errc.hpp"
#include "shmbus/actors/fwd.hpp"
#include "shmbus/supervision/child_spec.hpp"

namespace shmbus::bus {
class node;
} // namespace shmbus::bus

namespace shmbus::actors {

enum class output_stream : uint8_t { out, err };

struct module_spec {
  /// Names the module: its child id, its node name on the bus, and the
  /// "[name] " prefix of its output lines.
  std::string name;
  /// Path, or a name searched in PATH.
  std::string executable;
  /// Its arguments. The start function appends `--shmbus.bus=<bus>
  /// --shmbus.role=client --shmbus.node-name=<name>`; run_module() finds
  /// them wherever they are.
  std::vector<std::string> args;
  /// Set on top of this process's environment.
  std::vector<std::pair<std::string, std::string>> env;
  /// The names it publishes on the bus. It counts as started once all of
  /// them resolve to actors of this very process.
  std::vector<std::string> publishes;
  /// How long it may take to publish them.
  caf::timespan start_timeout = defaults::module_start_timeout;
  /// Stopping: SIGTERM this long after the stop request ...
  caf::timespan term_after = defaults::module_term_after;
  /// ... and SIGKILL this long after it.
  caf::timespan kill_after = defaults::module_kill_after;
  /// Receives each output line, prefix included. Unset: the line goes to
  /// shmbus::log (event log::module_output_event, fields module, stream,
  /// pid; info for stdout, warning for stderr), whose default sink writes
  /// it with its prefix to this process's stdout or stderr, as the module
  /// wrote it. Called from
  /// the process_watcher thread until the module's output ends, which is
  /// before its actor goes down (unless a grandchild inherited its stdout):
  /// what it uses must live at least as long as the supervisor.
  std::function<void(output_stream from, std::string_view line)> output;

  /// A description of what is wrong, or none.
  caf::error validate() const;
};

/// A child spec that starts the module, or fails with
/// actors::errc::module_start_timeout (naming the missing names, and how the process
/// ended if it died meanwhile) after stopping and reaping it. The child's
/// shutdown policy lets the module actor finish its own stop sequence
/// (timeout kill_after + defaults::module_reap_margin).
///
/// `bus` is a handle: once the bus stopped, starts fail with
/// bus::errc::not_attached and a running module is stopped by signals only.
supervision::child_spec
module_child(module_spec spec, bus::node bus,
             supervision::restart_type restart
             = supervision::restart_type::permanent);

/// The pid of the process that runs `x`, from its CAF node id (a local
/// actor gives our own pid); none for an invalid handle.
std::optional<int> process_id_of(const caf::actor& x);

/// The argument list module_child() passes to the module's executable.
std::vector<std::string> module_arguments(const module_spec& spec,
                                          const std::string& bus_name);

} // namespace shmbus::actors
