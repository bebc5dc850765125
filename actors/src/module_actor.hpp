// The local actor that stands for a module process. Private: module_child()
// spawns it once the process has published its names.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/behavior.hpp>
#include <caf/error.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/fwd.hpp>
#include <caf/system_messages.hpp>
#include <caf/timespan.hpp>

#include "shmbus/bus/node.hpp"
#include "shmbus/process/fwd.hpp"
#include "shmbus/process/process_status.hpp"

namespace shmbus::actors {

/// Sent by the reaping thread: (kind, value) of the process_status.
using module_ended_atom = caf::atom_constant<caf::atom("md_ended")>;
/// Timers of the stop sequence and of the grace periods.
using module_term_atom = caf::atom_constant<caf::atom("md_term")>;
using module_kill_atom = caf::atom_constant<caf::atom("md_kill")>;
using module_decide_atom = caf::atom_constant<caf::atom("md_decide")>;
using module_orphan_atom = caf::atom_constant<caf::atom("md_orphan")>;

/// Goes down when its process ends, with a reason that says how; an
/// exit_msg (the supervisor's shutdown) makes it stop the process: a stop
/// request over the bus, SIGTERM after `term_after`, SIGKILL after
/// `kill_after`. It never blocks, except when killed: CAF does not let an
/// actor intercept exit_reason::kill, so on_exit() SIGKILLs and reaps.
class module_actor : public caf::event_based_actor {
public:
  struct published {
    std::string name;
    caf::actor handle; // a proxy of the module's actor
  };

  module_actor(caf::actor_config& cfg, std::string module_name,
               std::shared_ptr<process::os_process> proc, bus::node bus,
               std::vector<published> names, caf::timespan term_after,
               caf::timespan kill_after);

  const char* name() const override;

protected:
  caf::behavior make_behavior() override;

  void on_exit() override;

private:
  /// Why the process is being stopped, if it is.
  enum class stop_cause : uint8_t {
    none,
    /// The supervisor (or anyone) sent an exit_msg.
    requested,
    /// One of its published actors went down while the process runs.
    actor_down,
    /// The bus lost it while the process still runs.
    unreachable,
  };

  void handle_down(caf::down_msg& dm);

  void handle_ended(process::process_status st);

  /// Starts the stop sequence (once); `cause` is remembered for the reason.
  void begin_stop(stop_cause cause);

  /// SIGTERM, and SIGCONT so that a stopped process sees it.
  void send_sigterm();

  /// Quits with the reason that says what happened to the process.
  void finish();

  caf::error exit_reason() const;

  /// "module 'storage' (pid 4242)".
  std::string who() const;

  std::string module_name_;
  std::shared_ptr<process::os_process> proc_;
  bus::node bus_;
  std::vector<published> names_;
  size_t names_up_;
  caf::timespan term_after_;
  caf::timespan kill_after_;

  std::optional<process::process_status> ended_;
  stop_cause stop_cause_ = stop_cause::none;
  caf::error requested_reason_;     // of the exit_msg
  std::string actor_down_;          // "its actor 'x' went down with ..."
  bool stopping_ = false;          // stop request sent, timers running
  bool term_sent_ = false;
  bool kill_sent_ = false;
  bool finished_ = false;
};

} // namespace shmbus::actors
