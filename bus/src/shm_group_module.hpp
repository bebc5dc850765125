// The `shmbus` CAF group module: `sys.groups().get("shmbus", "blocks")`
// gives a group that the actors of every process of the bus join, leave and
// send to with CAF's own API. bus_module adds it to every actor system that
// loads the bus (actor_system_config::group_module_factories); the group
// router of the system's first running bus node carries it between
// processes. Groups serialize as their identifier (after CAF's module
// name), so a handle sent to another process names the same group there.
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/group.hpp>
#include <caf/group_module.hpp>
#include <caf/intrusive_ptr.hpp>

#include "shm_group.hpp"

namespace shmbus::bus {

class group_router;

class shm_group_module final : public caf::group_module {
public:
  explicit shm_group_module(caf::actor_system& sys);

  /// The module of `sys`; nullptr if the system did not load bus_module.
  static shm_group_module* of(caf::actor_system& sys);

  /// An error if `msg` holds a group of another module: only groups of this
  /// module mean the same in every process (CAF's `local` groups would make
  /// group proxies that nothing frees). Checks the top-level elements.
  static caf::error crossing(const caf::message& msg);

  /// Empty, or what is wrong with `id` as a group identifier.
  static std::string check_name(const std::string& id);

  // -- caf::group_module --------------------------------------------------------

  /// The group `id` of this process (made on first use). Fails for an empty
  /// or overlong identifier, and when max_groups groups are in use.
  caf::expected<caf::group> get(const std::string& id) override;

  /// Reads an identifier that save() wrote (a group handle inside a message
  /// from another process) and gives this process's group of that name.
  caf::error load(caf::deserializer& source, caf::group& storage) override;

  /// Drops every group's subscribers and the groups (the system shuts down).
  void stop() override;

  // -- the bus's side -----------------------------------------------------------

  /// Makes `router` carry the groups of this process, unless another one
  /// does; tells it the groups that have subscribers already. Returns
  /// whether it was taken.
  bool attach(std::shared_ptr<group_router> router);

  /// Undoes attach() if `router` is the one attached.
  void detach(const group_router* router);

  /// The attached router, or null.
  std::shared_ptr<group_router> router() const;

  /// Hands `msg` from another process to the local subscribers of `id`;
  /// returns how many there were (none if the group is not known here).
  size_t deliver(const std::string& id, const caf::strong_actor_ptr& sender,
                 const caf::message& msg, caf::execution_unit* host);

  /// Local subscribers of `id` (0 if the group is not known here).
  size_t subscribers(const std::string& id) const;

private:
  caf::intrusive_ptr<shm_group> find(const std::string& id) const;

  mutable std::mutex groups_mtx_;
  std::map<std::string, caf::intrusive_ptr<shm_group>> groups_;
  bool stopped_ = false;
  /// A lock of its own: groups ask for the router under their own lock.
  mutable std::mutex router_mtx_;
  std::shared_ptr<group_router> router_;
};

} // namespace shmbus::bus
