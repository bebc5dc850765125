#include "peer_table.hpp"

#include <algorithm>

#include "wire.hpp"

namespace shmbus::bus {

peer_table::peer_table(transport::node& transport)
  : transport_(transport),
    slots_(transport.limits().node_slots),
    alive_(new std::atomic<uint64_t>[slots_]),
    by_slot_(slots_) {
  for (uint32_t i = 0; i < slots_; ++i)
    alive_[i].store(0, std::memory_order_relaxed);
}

void peer_table::remember(const transport::peer_info& peer) {
  if (peer.slot >= slots_)
    return;
  entry x;
  x.ref = {peer.slot, peer.incarnation};
  x.node = wire::from_bytes(peer.user_data.data());
  x.name = peer.name;
  x.pid = peer.pid;
  x.server = peer.role == transport::node_role::server;
  if (!x.node)
    return; // not a CAF node (e.g. a transport-only tool)
  {
    std::lock_guard<std::mutex> guard(mtx_);
    // Any process of the bus can write any node id into its slot: a live
    // member of another slot keeps its node id, or the newcomer's loss would
    // kill that member's proxies.
    if (auto held = by_node_.find(x.node);
        held != by_node_.end() && held->second.ref.slot != peer.slot && alive(held->second.ref))
      return;
    auto& old = by_slot_[peer.slot];
    if (old.node && old.ref.incarnation != peer.incarnation)
      by_node_.erase(old.node);
    by_node_[x.node] = x;
    node_by_ref_[key_of(x.ref)] = x.node;
    old = x;
  }
  alive_[peer.slot].store(alive_word(peer.incarnation), std::memory_order_release);
  transport_.watch(peer.slot, peer.incarnation);
}

std::optional<peer_ref> peer_table::route(const caf::node_id& nid) {
  {
    std::lock_guard<std::mutex> guard(mtx_);
    auto i = by_node_.find(nid);
    if (i != by_node_.end())
      return alive(i->second.ref) ? std::optional<peer_ref>{i->second.ref} : std::nullopt;
  }
  // Not announced to the I/O thread yet: the node table is the truth.
  auto wanted = wire::to_bytes(nid);
  for (auto& peer : transport_.peers()) {
    if (std::equal(wanted.begin(), wanted.end(), peer.user_data.begin())
        && peer.slot != transport_.slot()) {
      remember(peer);
      return peer_ref{peer.slot, peer.incarnation};
    }
  }
  return std::nullopt;
}

caf::node_id peer_table::node_of(peer_ref ref) {
  {
    std::lock_guard<std::mutex> guard(mtx_);
    auto i = node_by_ref_.find(key_of(ref));
    if (i != node_by_ref_.end())
      return i->second;
  }
  // Not announced yet: the node table knows it if it is still this
  // incarnation there.
  if (auto peer = transport_.peer(ref.slot); peer && peer->incarnation == ref.incarnation) {
    remember(*peer);
    return wire::from_bytes(peer->user_data.data());
  }
  return caf::node_id{};
}

std::string peer_table::name_of(uint32_t slot) const {
  std::lock_guard<std::mutex> guard(mtx_);
  return slot < by_slot_.size() ? by_slot_[slot].name : std::string{"?"};
}

caf::node_id peer_table::forget(const transport::peer_loss& loss) {
  auto ref = peer_ref{loss.peer.slot, loss.peer.incarnation};
  caf::node_id nid;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    auto pid = static_cast<int>(loss.peer.pid);
    if (losses_.count(pid) > 0)
      loss_order_.erase(std::find(loss_order_.begin(), loss_order_.end(), pid));
    losses_[pid] = loss_report{loss.cause, loss.detail, loss.describe()};
    loss_order_.push_back(pid);
    while (loss_order_.size() > max_loss_reports) {
      losses_.erase(loss_order_.front());
      loss_order_.pop_front();
    }
    auto i = node_by_ref_.find(key_of(ref));
    if (i != node_by_ref_.end()) {
      nid = i->second;
      node_by_ref_.erase(i);
      auto j = by_node_.find(nid);
      if (j != by_node_.end() && j->second.ref.incarnation == ref.incarnation)
        by_node_.erase(j);
    }
  }
  if (ref.slot < slots_) {
    // Only this incarnation: the slot may already hold its successor.
    auto expected = alive_word(ref.incarnation);
    alive_[ref.slot].compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
  }
  return nid;
}

void peer_table::close() noexcept {
  for (uint32_t i = 0; i < slots_; ++i)
    alive_[i].store(0, std::memory_order_release);
}

std::optional<peer_ref> peer_table::find_process(int pid) {
  {
    std::lock_guard<std::mutex> guard(mtx_);
    for (auto& [nid, x] : by_node_)
      if (x.pid == pid && alive(x.ref))
        return x.ref;
  }
  for (auto& peer : transport_.peers())
    if (peer.pid == pid && peer.slot != transport_.slot())
      return peer_ref{peer.slot, peer.incarnation};
  return std::nullopt;
}

std::vector<peer_view> peer_table::peers() const {
  std::vector<peer_view> result;
  std::lock_guard<std::mutex> guard(mtx_);
  for (auto& [nid, x] : by_node_)
    if (alive(x.ref))
      result.push_back({x.name, x.pid, nid, x.server});
  return result;
}

std::optional<loss_report> peer_table::loss_of(int pid) const {
  std::lock_guard<std::mutex> guard(mtx_);
  auto i = losses_.find(pid);
  if (i == losses_.end())
    return std::nullopt;
  return i->second;
}

} // namespace shmbus::bus
