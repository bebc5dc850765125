// Starting supervisors and talking to them: the entry point of the layer.
// It needs CAF only (no middleman, no bus): any CAF program may use it.
//
//   caf::actor_system_config cfg;
//   shmbus::supervision::configure(cfg); // error category, reply types
//   caf::actor_system sys{cfg};
//   supervisor_flags flags;
//   flags.strategy = restart_strategy::one_for_all;
//   auto sup = start_supervisor(sys, flags, {
//     child_spec{"db", [](caf::actor_system& sys) { return sys.spawn(db); }},
//     supervisor_spec("modules", module_flags, module_specs),
//   });
//   if (!sup) ... // caf::error naming the child that failed to start
//
// A child is any CAF actor: its supervisor watches it only through the
// `down_msg` of its handle, so local actors, actors standing for OS processes
// and actors in other processes are supervised alike.
#pragma once

#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>
#include <caf/timespan.hpp>

#include "shmbus/supervision/atoms.hpp"
#include "shmbus/supervision/child_counts.hpp"
#include "shmbus/supervision/child_info.hpp"
#include "shmbus/supervision/child_spec.hpp"
#include "shmbus/supervision/defaults.hpp"
#include "shmbus/supervision/errc.hpp"
#include "shmbus/supervision/fwd.hpp"
#include "shmbus/supervision/supervisor_flags.hpp"
#include "shmbus/supervision/supervisor_observer.hpp"

namespace shmbus::supervision {

// -- starting -----------------------------------------------------------------

/// Spawns a supervisor and starts `children` in order. Returns once all of
/// them run, or returns the first start failure (`errc::child_start_failed`,
/// naming the child and its cause) after stopping the children already
/// started in reverse order. Invalid flags or specs give
/// `caf::sec::invalid_argument`. For `simple_one_for_one`, `children` holds
/// exactly the template and nothing starts yet.
/// @warning Blocks the caller until every start function has returned (no
/// deadline, as OTP's start_link): do not call it from an event-based actor.
caf::expected<caf::actor> start_supervisor(caf::actor_system& sys,
                                           supervisor_flags flags,
                                           std::vector<child_spec> children);

/// A child spec that starts a nested supervisor (kind supervisor, permanent,
/// shutdown infinity).
child_spec supervisor_spec(std::string id, supervisor_flags flags,
                           std::vector<child_spec> children);

/// Registers the supervisor's reply types (child_info, child_counts) with
/// CAF, needed when a supervisor is queried from another process.
void add_message_types(caf::actor_system_config& cfg);

/// Registers everything the supervisor needs with `cfg`: its error category
/// (errc.hpp) and its reply types. Call it before creating the actor system;
/// calling it twice is harmless.
void configure(caf::actor_system_config& cfg);

// -- runtime API --------------------------------------------------------------
//
// Blocking calls for scoped and blocking actors: each blocks the caller up to
// `timeout` (a terminate_child waits for the child's whole shutdown). From an
// event-based actor, `request` the supervisor with the atoms of atoms.hpp.
// Thread-safe: the supervisor serializes the calls in its mailbox.

/// Adds `spec` to a static supervisor and starts it; `errc::child_already_exists`
/// when the id is taken, `errc::child_start_failed` when it fails to start
/// (then the spec is not kept).
caf::expected<caf::actor>
start_child(caf::blocking_actor& self, const caf::actor& sup, child_spec spec,
            caf::timespan timeout = defaults::call_timeout);

/// Starts a child of a `simple_one_for_one` supervisor from its template with
/// `args` passed to the start function.
caf::expected<caf::actor>
start_child(caf::blocking_actor& self, const caf::actor& sup, caf::message args,
            caf::timespan timeout = defaults::call_timeout);

/// Stops a child with its shutdown policy (cancelling a pending restart); the
/// spec stays unless the child is temporary or dynamic. `errc::child_not_found`.
caf::error terminate_child(caf::blocking_actor& self, const caf::actor& sup,
                           const std::string& id,
                           caf::timespan timeout = defaults::call_timeout);

/// As above, naming the child by its handle (handy for dynamic children).
caf::error terminate_child(caf::blocking_actor& self, const caf::actor& sup,
                           const caf::actor& child,
                           caf::timespan timeout = defaults::call_timeout);

/// Starts a stopped child again. `errc::child_running` if it runs or waits for
/// a restart, `errc::child_not_found`, `errc::child_start_failed`.
caf::expected<caf::actor>
restart_child(caf::blocking_actor& self, const caf::actor& sup,
              const std::string& id,
              caf::timespan timeout = defaults::call_timeout);

/// Removes the spec of a stopped child. `errc::child_running`,
/// `errc::child_not_found`.
caf::error delete_child(caf::blocking_actor& self, const caf::actor& sup,
                        const std::string& id,
                        caf::timespan timeout = defaults::call_timeout);

/// All children in start order.
caf::expected<std::vector<child_info>>
which_children(caf::blocking_actor& self, const caf::actor& sup,
               caf::timespan timeout = defaults::call_timeout);

caf::expected<child_counts>
count_children(caf::blocking_actor& self, const caf::actor& sup,
               caf::timespan timeout = defaults::call_timeout);

} // namespace shmbus::supervision
