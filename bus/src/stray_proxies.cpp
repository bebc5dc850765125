#include "stray_proxies.hpp"

#include <caf/exit_reason.hpp>
#include <caf/proxy_registry.hpp>

namespace shmbus::bus {

void stray_proxies::note(const caf::node_id& nid, caf::actor_id aid) {
  std::lock_guard<std::mutex> guard(mtx_);
  if (noted_.size() < max_noted)
    noted_.emplace_back(nid, aid);
  // Pairs with the acquire load in purge(); set under the lock, so a purge
  // that clears it after taking the vector cannot miss this entry.
  any_.store(true, std::memory_order_release);
}

void stray_proxies::purge(caf::proxy_registry& proxies) {
  if (!any_.load(std::memory_order_acquire))
    return;
  std::vector<std::pair<caf::node_id, caf::actor_id>> noted;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    noted.swap(noted_);
    any_.store(false, std::memory_order_relaxed);
  }
  // A born-dead proxy was killed already; erasing kills it again (a no-op)
  // and drops the registry's reference.
  for (auto& [nid, aid] : noted)
    proxies.erase(nid, aid, caf::exit_reason::remote_link_unreachable);
}

} // namespace shmbus::bus
