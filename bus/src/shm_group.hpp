// One group of the `shmbus` group module in one process: its local
// subscribers, and the way out to the other processes (group_router). A
// message sent to it goes to every local subscriber directly and, through
// the router, once to every other process that has a subscriber; a message
// that arrives from another process goes to the local subscribers only.
//
// Thread safety: every member may be called from any thread. The router is
// told about the first join and the last leave under the group's lock, so
// that the other processes see this process's joins and leaves in order.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include <caf/abstract_group.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>
#include <caf/message_id.hpp>

namespace shmbus::bus {

class group_router;
class shm_group_module;

class shm_group final : public caf::abstract_group {
public:
  shm_group(shm_group_module& mod, std::string id);

  /// Writes the identifier; CAF writes the module name before it.
  caf::error save(caf::serializer& sink) const override;

  /// Adds `who`; the first local subscriber makes this process a
  /// subscriber for the other processes. False if `who` had joined already
  /// or the module stopped.
  bool subscribe(caf::strong_actor_ptr who) override;

  /// Removes `who` (CAF calls it on leave and when the actor terminates);
  /// the last one makes this process leave the group for the others.
  void unsubscribe(const caf::actor_control_block* who) override;

  /// Sends `msg` to every subscriber of every process of the bus.
  /// @warning Blocks the caller while the inbox of a subscribed process is
  ///          full, up to shmbus.full-inbox-timeout (see group_router::publish).
  void enqueue(caf::strong_actor_ptr sender, caf::message_id mid, caf::message msg,
               caf::execution_unit* host) override;

  /// Drops every subscriber (the actor system shuts down).
  void stop() override;

  /// Sends `msg` to the local subscribers only (it came from another process).
  void deliver_local(const caf::strong_actor_ptr& sender, const caf::message& msg,
                     caf::execution_unit* host);

  /// Actors of this process that joined.
  size_t subscribers() const;

  /// Tells `router` that this process subscribes, if it does (a bus node
  /// started after its actors joined).
  void announce(group_router& router);

private:
  /// A copy of the subscribers, taken under the lock: enqueueing to an
  /// actor may run it (inline dispatch), which may join or leave.
  std::vector<caf::strong_actor_ptr> snapshot() const;

  shm_group_module& mod_;
  mutable std::mutex mtx_;
  std::vector<caf::strong_actor_ptr> subscribers_;
  bool stopped_ = false;
};

} // namespace shmbus::bus
