// CAF's scheduler with a clock that wakes its thread less often: load it
// before creating the actor system,
//
//   cfg.load<shmbus::bus::bus_scheduler>();
//
// shmbus::bus::config does. The workers are CAF's own (the policy in
// scheduler.policy: stealing or sharing); only the clock of timeouts and
// delayed messages differs. CAF 0.17.6 wakes its clock thread for every
// request with a timeout, which costs a bus request two context switches on
// a core the bus's I/O thread shares; this clock wakes its thread only when a timeout or delayed
// message is due before the thread wakes anyway and batches the rest
// (bus/src/batching_clock.hpp). With scheduler.policy "testing" or
// scheduler.enable-profiling, CAF's own scheduler is made instead.
#pragma once

#include <caf/actor_system.hpp>
#include <caf/detail/type_list.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

namespace shmbus::bus {

/// Only a factory for actor_system_config::load(): the scheduler it makes
/// is a caf::scheduler::coordinator.
class bus_scheduler : public caf::scheduler::abstract_coordinator {
public:
  /// Called by actor_system_config::load<bus_scheduler>().
  static caf::actor_system::module* make(caf::actor_system& sys, caf::detail::type_list<>);

  bus_scheduler() = delete;
};

} // namespace shmbus::bus
