// Stopping children the way OTP's supervisor does (its shutdown/2): an exit
// signal per the child's shutdown policy, a deadline, then a kill. Private to
// the supervisor actor, which uses it whenever children must stop (siblings of
// a failed child, terminate_child, its own shutdown).
#pragma once

#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include "shmbus/supervision/shutdown_policy.hpp"

namespace shmbus::supervision {

/// One child to stop.
struct stop_target {
  /// Names the child in the reason recorded when it never goes down.
  std::string id;
  caf::actor handle;
  shutdown_policy policy;
};

/// Sends an exit_msg from `sender` that overtakes `dest`'s mailbox backlog,
/// as exit signals do in Erlang (CAF's send_exit queues it behind the
/// backlog). `ctx` may be null (e.g. in on_exit, which may run from a
/// destructor). Does not block.
void send_exit_now(const caf::actor_addr& sender, caf::execution_unit* ctx,
                   const caf::actor& dest, caf::error reason);

/// Stops `targets` concurrently: each gets its exit signal from `sender`,
/// and `waiter` (a private blocking actor) monitors them. A child still up
/// at its policy's deadline is killed; one still up `kill_timeout` after its
/// kill is given up (a CAF actor stuck inside a handler never processes its
/// kill). Returns each target's exit reason, in the order of `targets`.
/// @warning Blocks the caller until every target is down or given up: up to
/// the longest shutdown timeout plus `kill_timeout`, forever for a target
/// whose policy is `infinity` and that never stops.
std::vector<caf::error> stop_concurrently(caf::local_actor& sender,
                                          caf::blocking_actor& waiter,
                                          const std::vector<stop_target>& targets,
                                          caf::timespan kill_timeout);

} // namespace shmbus::supervision
