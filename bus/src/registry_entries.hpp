// The entries of CAF's actor registry that exist because of the bus, so that
// a node that stops releases those and nothing else (entries of CAF's
// middleman and of the application stay).
//
// CAF keeps a local actor that was serialized in its registry with a strong
// reference (the answer or a peer's handle must find it by id); such an
// actor never becomes unreachable, and the actor system's shutdown would
// wait for it forever. The bus puts three kinds there: senders of records it
// encoded, published actors, and actors that peers hold proxies of (every
// proxy a peer makes WATCHes its actor, so the owner learns each handle a
// peer deserialized, whoever serialized it).
//
// Thread-safe; a mutex held only for set operations, never across a CAF call.
#pragma once

#include <cstddef>
#include <mutex>
#include <unordered_set>

#include <caf/actor_control_block.hpp>
#include <caf/fwd.hpp>

namespace shmbus::bus {

class registry_entries {
public:
  explicit registry_entries(caf::actor_system& sys);

  /// Puts the local actor `x` into CAF's registry and remembers it.
  void put(const caf::strong_actor_ptr& x);

  /// Remembers actor `aid` if CAF's registry holds it (a peer made a proxy
  /// of it, so someone serialized it).
  void adopt(caf::actor_id aid);

  /// Erases every remembered entry from CAF's registry and forgets them.
  /// Entries of actors that terminated are gone already (CAF erases them).
  void release_all();

private:
  /// Past this many remembered ids, those whose actor terminated (CAF
  /// erased their entry) are dropped before the next one is added.
  static constexpr size_t prune_threshold = 4096;

  void remember(caf::actor_id aid);

  caf::actor_system& sys_;
  mutable std::mutex mtx_;
  std::unordered_set<caf::actor_id> ids_;
  size_t prune_at_ = prune_threshold;
};

} // namespace shmbus::bus
