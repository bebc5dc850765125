// A supervised actor that lives in another process of the bus: its start
// function remote-spawns it (shmbus/bus/remote_spawn.hpp) into the process
// that publishes a given name, typically a module of the same supervision
// tree:
//
//   actors::remote_child_spec validator;
//   validator.id = "validator";
//   validator.host = "storage";          // a name the storage module publishes
//   validator.type = "validator";        // add_actor_type'd in that module
//   auto tier = supervision::start_supervisor(sys, rest_for_one_flags,
//     {actors::module_child(storage, bus), actors::remote_child(validator, bus)});
//
// The supervisor monitors the child like a local one (its handle is a proxy):
// an actor that quits goes down with its own reason, and when its process is
// gone the child goes down with remote_link_unreachable; either way it is
// restarted by the supervisor's strategy. In a rest_for_one tree the module
// child comes first, so that a lost module is restarted before the actors
// placed into it.
//
// A start blocks its supervisor, so it cannot wait long for a host that the
// same supervisor has yet to restart: the remote actor's down_msg may reach
// the supervisor a little before the module's own (which comes once the
// process is reaped and its loss reported). A start therefore waits up to
// host_wait for the host name, then fails saying that the host is gone or
// restarting; that failed attempt counts as a restart (as in OTP) and the
// supervisor retries after the messages waiting in its mailbox, the
// module's down_msg among them, so the module is restarted first and the
// remote child after it.
#pragma once

#include <set>
#include <string>
#include <type_traits>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/message.hpp>
#include <caf/timespan.hpp>

#include "shmbus/actors/defaults.hpp"
#include "shmbus/bus/node.hpp"
#include "shmbus/supervision/child_spec.hpp"

namespace shmbus::actors {

struct remote_child_spec {
  /// The child's id in its supervisor.
  std::string id;
  /// A name that the target process publishes on the bus: the child is
  /// spawned in whichever process publishes it when the child starts.
  std::string host;
  /// The actor type registered with add_actor_type in that process.
  std::string type;
  /// The factory's arguments (a simple_one_for_one child appends its own).
  caf::message args;
  /// How long a start waits for `host` to be published (its process may be
  /// restarting) before it fails.
  caf::timespan host_wait = defaults::remote_child_host_wait;
  /// How long the spawn in the host may take.
  caf::timespan spawn_timeout = defaults::remote_child_spawn_timeout;
};

/// The start function of remote_child(): finds the process that publishes
/// `spec.host` and spawns `spec.type` there, checking the interface
/// `interface` (empty: an untyped actor). Fails with the remote spawn's
/// error (see remote_spawn.hpp), or bus::errc::name_not_found when no
/// process published the host name within host_wait.
/// @warning Blocks the caller for up to spec.host_wait + spec.spawn_timeout
///          (twice that if the host dies between lookup and spawn).
caf::expected<caf::actor> start_remote_child(const remote_child_spec& spec, bus::node bus,
                                             const std::set<std::string>& interface,
                                             const caf::message& extra_args);

/// A child spec for `spec`: the child is an actor of type `Handle` (caf::actor
/// for an untyped one) in the process that publishes spec.host.
template <class Handle = caf::actor>
supervision::child_spec remote_child(remote_child_spec spec, bus::node bus,
                                     supervision::restart_type restart
                                     = supervision::restart_type::permanent) {
  auto id = spec.id;
  return supervision::child_spec{
    std::move(id),
    [spec = std::move(spec), bus](caf::actor_system& sys, const caf::message& extra) {
      return start_remote_child(spec, bus, sys.message_types<Handle>(), extra);
    },
    restart};
}

} // namespace shmbus::actors
