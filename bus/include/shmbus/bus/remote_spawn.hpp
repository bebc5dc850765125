// Remote spawn: starts an actor of a type that another process of the bus
// registered with add_actor_type, and returns its handle, as CAF 0.17.6's
// middleman::remote_spawn does across machines:
//
//   // in the target process (before its actor system starts):
//   cfg.add_actor_type("validator", validator_impl);     // or a typed actor
//   // anywhere on the bus:
//   auto v = shmbus::bus::remote_spawn<validator_actor>(bus, pid, "validator",
//                                                        int32_t{3}, std::chrono::seconds{2});
//
// The arguments after the type name are the factory's arguments (or one
// caf::message holding them); the last one is the timeout. The process is
// named by pid, as everywhere on the bus (peer_view::pid, or
// process_id_of(x.node()) for an actor `x` it published). The handle is a
// proxy like any other: send, request, monitor and link work, and its
// down_msg carries the actor's real exit reason, or remote_link_unreachable
// when its process is lost.
//
// Errors (CAF's codes, with a text that names the process and the remedy):
//   sec::unknown_type        the target has no actor type of that name
//   sec::cannot_spawn_actor_from_arguments   its factory takes other arguments
//   sec::unexpected_actor_messaging_interface  the type's interface is not
//                            Handle's (caf::actor: the type must be untyped)
//   sec::request_timeout     no answer within the timeout
//   sec::invalid_argument    a type name the target refuses (empty, longer
//                            than 256 bytes, not printable ASCII)
//   errc::peer_lost          the process is not on the bus, or was lost
//                            before it answered
//   errc::unregistered_type, errc::message_too_large   the arguments cannot
//                            cross the bus (as for any message)
//   errc::not_attached       the bus node stopped
//
// In the target, the spawn never runs on a bus I/O thread: CAF's own spawn
// server runs the factory on a scheduler worker.
#pragma once

#include <cstddef>
#include <limits>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>
#include <caf/timespan.hpp>

#include "shmbus/bus/node.hpp"

namespace shmbus::bus {

/// What remote_spawn() builds on; call remote_spawn() instead.
class remote_spawner {
public:
  /// The actor id under which every process's spawn service is reached: a
  /// proxy of (process, service_id) is an ordinary remote actor. CAF counts
  /// ids up from 1 and never reaches it.
  static constexpr caf::actor_id service_id = std::numeric_limits<caf::actor_id>::max();

  /// The actor that spawns for process `pid`: a proxy of its spawn service
  /// (this process's own spawn server for its own pid). Thread-safe, never
  /// blocks.
  static caf::expected<caf::actor> service_of(const node& bus, int pid);

  /// The error of a remote spawn of `type` in `pid`, with a text that names
  /// them, for the error `err` it got.
  static caf::error explain(const node& bus, int pid, const std::string& type,
                            const caf::message& args, caf::timespan timeout, caf::error err);

  /// The blocking spawn: see remote_spawn().
  /// @warning Blocks the caller for up to `timeout`.
  static caf::expected<caf::strong_actor_ptr> spawn(const node& bus, int pid,
                                                    const std::string& type, caf::message args,
                                                    std::set<std::string> interface,
                                                    caf::timespan timeout);

  /// The factory arguments among remote_spawn()'s arguments: the first `N`.
  template <class Tuple, size_t... Is>
  static caf::message arguments(Tuple& xs, std::index_sequence<Is...>) {
    if constexpr (sizeof...(Is) == 1
                  && std::is_same<std::decay_t<std::tuple_element_t<0, Tuple>>,
                                  caf::message>::value)
      return std::get<0>(xs);
    else if constexpr (sizeof...(Is) == 0)
      return caf::message{};
    else
      return caf::make_message(std::get<Is>(xs)...);
  }
};

/// Spawns an actor of the type registered as `type` in process `pid` of the
/// bus with the arguments `xs` (all but the last; the last is the timeout,
/// a std::chrono duration) and returns it as `Handle`, after checking that
/// the spawned actor has `Handle`'s interface.
/// Thread-safe. From an actor, use the form with `self` below.
/// @warning Blocks the caller for up to the timeout.
template <class Handle = caf::actor, class... Ts>
caf::expected<Handle> remote_spawn(const node& bus, int pid, const std::string& type,
                                   Ts&&... xs) {
  static_assert(sizeof...(Ts) >= 1, "remote_spawn: the last argument is the timeout");
  auto all = std::forward_as_tuple(std::forward<Ts>(xs)...);
  constexpr size_t n = sizeof...(Ts) - 1;
  caf::timespan timeout = std::get<n>(all);
  auto args = remote_spawner::arguments(all, std::make_index_sequence<n>{});
  std::set<std::string> interface;
  if (bus.attached())
    interface = bus.system().message_types<Handle>();
  auto x = remote_spawner::spawn(bus, pid, type, std::move(args), std::move(interface), timeout);
  if (!x)
    return std::move(x.error());
  return caf::actor_cast<Handle>(std::move(*x));
}

/// The same from the event-based actor `self` (typed or not), without
/// blocking it or any thread: `f(caf::expected<Handle>)` runs in `self`
/// once the actor was spawned or the spawn failed. Call it from `self`'s
/// own handlers, as any request of `self`.
template <class Handle = caf::actor, class Self, class F>
void remote_spawn(Self* self, const node& bus, int pid, const std::string& type,
                  caf::message args, caf::timespan timeout, F f) {
  auto target = remote_spawner::service_of(bus, pid);
  if (!target) {
    f(caf::expected<Handle>{std::move(target.error())});
    return;
  }
  auto interface = self->system().template message_types<Handle>();
  // CAF 0.17 keeps `self` alive until a request's timeout fires, answered
  // or not: cancel it once answered.
  auto answered = [self] {
    self->system().clock().cancel_request_timeout(self, self->current_message_id());
  };
  self->request(*target, timeout, caf::spawn_atom::value, type, args, std::move(interface))
    .then(
      [f, answered](caf::strong_actor_ptr& x) mutable {
        answered();
        f(caf::expected<Handle>{caf::actor_cast<Handle>(std::move(x))});
      },
      [f, answered, bus, pid, type, args, timeout](caf::error& err) mutable {
        answered();
        f(caf::expected<Handle>{
          remote_spawner::explain(bus, pid, type, args, timeout, std::move(err))});
      });
}

} // namespace shmbus::bus
