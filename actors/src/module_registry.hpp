// The process behind each module actor of this process: a module actor is a
// local actor that stands for an OS process, so its node id names us, not
// the module. The supervision publisher asks here for the pid to show.
// Thread-safe; every call takes one mutex briefly.
#pragma once

#include <optional>

#include <caf/actor_addr.hpp>
#include <caf/fwd.hpp>

namespace shmbus::actors::module_registry {

/// Remembers that the actor `id` of `sys` stands for process `pid`.
void add(const caf::actor_system& sys, caf::actor_id id, int pid);

/// Forgets the actor `id` of `sys`.
void remove(const caf::actor_system& sys, caf::actor_id id);

/// The process the actor `id` of `sys` stands for, if it is a module actor.
std::optional<int> pid_of(const caf::actor_system& sys, caf::actor_id id);

} // namespace shmbus::actors::module_registry
