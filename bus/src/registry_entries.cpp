#include "registry_entries.hpp"

#include <algorithm>
#include <vector>

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>

namespace shmbus::bus {

registry_entries::registry_entries(caf::actor_system& sys) : sys_(sys) {
  // nop
}

void registry_entries::put(const caf::strong_actor_ptr& x) {
  if (!x)
    return;
  sys_.registry().put(x->id(), x);
  remember(x->id());
}

void registry_entries::adopt(caf::actor_id aid) {
  if (sys_.registry().get(aid))
    remember(aid);
}

void registry_entries::remember(caf::actor_id aid) {
  std::vector<caf::actor_id> known;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    if (!ids_.insert(aid).second || ids_.size() < prune_at_)
      return;
    known.assign(ids_.begin(), ids_.end());
  }
  // CAF erased the entries of actors that terminated: forget those ids.
  std::vector<caf::actor_id> gone;
  for (auto id : known)
    if (!sys_.registry().get(id))
      gone.push_back(id);
  std::lock_guard<std::mutex> guard(mtx_);
  for (auto id : gone)
    ids_.erase(id);
  // Amortized: the next pruning once the live set has doubled.
  prune_at_ = std::max(prune_threshold, 2 * ids_.size());
}

void registry_entries::release_all() {
  std::unordered_set<caf::actor_id> ids;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    ids.swap(ids_);
    prune_at_ = prune_threshold;
  }
  for (auto id : ids)
    sys_.registry().erase(id);
}

} // namespace shmbus::bus
