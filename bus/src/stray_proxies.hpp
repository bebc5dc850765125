// Proxies that CAF's proxy registry keeps for actors of processes that are
// not on the bus. A handle read from a record (a sender, an actor inside a
// message) makes CAF call make_proxy, and the registry stores whatever it
// returns, also the born-dead proxy of a process that is gone and the empty
// entry of an impossible id: a peer that names a million such actors would
// grow the registry by a million entries. make_proxy notes each of them here
// and the I/O thread erases them after every record (the handle holders keep
// their proxy object; only the registry forgets it).
//
// Thread-safe: note() runs under the registry's lock (it takes only its
// own), purge() takes the registry's lock after releasing its own.
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <utility>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/node_id.hpp>

namespace shmbus::bus {

class stray_proxies {
public:
  /// Entries noted at most between two purges; more are left in the
  /// registry (a dead proxy each).
  static constexpr size_t max_noted = 4096;

  /// The registry got no live proxy for actor `aid` of `nid`.
  void note(const caf::node_id& nid, caf::actor_id aid);

  /// Erases the noted entries from `proxies`.
  void purge(caf::proxy_registry& proxies);

private:
  /// True while noted_ may hold entries: purge() after every record costs
  /// one load when nothing was noted.
  std::atomic<bool> any_{false};
  std::mutex mtx_;
  std::vector<std::pair<caf::node_id, caf::actor_id>> noted_;
};

} // namespace shmbus::bus
