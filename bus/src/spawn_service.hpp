// The target side of remote spawn (node's remote_spawn.hpp): an actor of
// this process that other processes of the bus ask to spawn an actor of a
// type registered here with add_actor_type. It sits in CAF's actor registry
// under a well-known id (no actor ever gets it), so a requester addresses it
// through an ordinary proxy of (this node, well_known_id): the request, its
// answer, pending-request failure when this process is lost, all take the
// bus's usual message path and no record kind of their own.
//
// Every field of a request comes from another process and is untrusted: the
// record was validated and its CAF part read with limits on the way in; the
// service then checks the type name (length, characters) and the interface
// (number of signatures), refuses anything else sent to it, answers every
// refused request with an error that says why, and reports it (counted,
// logged once per sender process).
//
// The spawn itself never runs on a bus I/O thread (with inline dispatch an
// I/O thread runs the actors that records wake, this one included): a valid
// request is handed to CAF's own spawn server on a scheduler worker, which
// runs the type's factory and answers the requester directly.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>
#include <caf/result.hpp>

#include "shmbus/bus/bus_settings.hpp"
#include "shmbus/bus/remote_spawn.hpp"

#include "once_log.hpp"

namespace shmbus::bus {

class spawn_service {
public:
  /// The actor id a requester's proxy names.
  static constexpr caf::actor_id well_known_id = remote_spawner::service_id;

  /// Longest type name a request may carry, in bytes.
  static constexpr size_t max_type_name = 256;

  /// Most message signatures an expected interface may have.
  static constexpr size_t max_signatures = 1024;

  spawn_service(caf::actor_system& sys, const bus_settings& settings, once_log& log);

  /// The pointer the service actor holds: it answers "receiver down" once
  /// the bus is gone. Set once, before start().
  void bind(std::weak_ptr<spawn_service> self) { self_ = std::move(self); }

  /// Spawns the service actor and registers it under well_known_id.
  /// Thread-safe.
  void start();

  /// Ends the service actor (its registry entry goes with it). Thread-safe,
  /// idempotent.
  void stop();

  /// Requests refused so far (see above). Thread-safe.
  uint64_t refused() const noexcept { return refused_.load(std::memory_order_relaxed); }

  /// Why `type` cannot be a type name of a request, or empty.
  static std::string check_type_name(const std::string& type);

private:
  /// Checks a spawn request to `self` and hands a valid one to CAF's spawn
  /// server; the error of a refused one.
  caf::result<caf::strong_actor_ptr> handle(caf::event_based_actor* self, std::string type,
                                            caf::message args, std::set<std::string> ifs);

  /// Counts and reports a request from `sender` refused for `why`.
  void refuse(const caf::strong_actor_ptr& sender, const std::string& why);

  caf::actor_system& sys_;
  const bus_settings& settings_;
  once_log& log_;
  std::weak_ptr<spawn_service> self_;
  std::atomic<uint64_t> refused_{0};
  std::mutex mtx_;
  caf::actor actor_;
};

} // namespace shmbus::bus
