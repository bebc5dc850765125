// A local stand-in for an actor of another process on the bus. Everything
// enqueued into it is serialized on the caller's thread and written straight
// into the owner's inbox (forwarder): no broker actor on the way out. It
// observes its bus weakly: once the bus is gone, messages bounce.
#pragma once

#include <cstdint>
#include <memory>

#include <caf/actor_proxy.hpp>

namespace shmbus::bus {

class bus_core;

class shm_actor_proxy final : public caf::actor_proxy {
public:
  shm_actor_proxy(caf::actor_config& cfg, std::weak_ptr<bus_core> core,
                  uint32_t slot, uint32_t incarnation);

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit* ctx) override;

  /// Runs under the locks of both actors (monitorable_actor::add_link): must
  /// not call into CAF's registry or any actor lock.
  bool add_backlink(caf::abstract_actor* x) override;
  bool remove_backlink(caf::abstract_actor* x) override;

  /// Fails requests pending on this actor, then tells monitors and links.
  void kill_proxy(caf::execution_unit* ctx, caf::error reason) override;

  const char* name() const override { return "shmbus_proxy"; }

  uint32_t slot() const noexcept { return slot_; }
  uint32_t incarnation() const noexcept { return incarnation_; }

  /// Removes a link without telling the other side (used for exit_msgs of
  /// links, see remote_links::forward_exit).
  void drop_link(const caf::actor_addr& other) { unlink_from(other); }

private:
  std::weak_ptr<bus_core> core_;
  uint32_t slot_;
  uint32_t incarnation_;
};

} // namespace shmbus::bus
