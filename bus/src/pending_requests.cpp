#include "pending_requests.hpp"

#include <algorithm>
#include <iterator>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/actor_system.hpp>
#include <caf/make_message.hpp>
#include <caf/sec.hpp>

#include "shmbus/bus/errc.hpp"
#include "shmbus/bus/node.hpp"

namespace shmbus::bus {

namespace {

/// Requests that are never answered (their requester timed out and the
/// receiver ignores them) would pile up: every this many new entries, those
/// of requesters that are gone are dropped.
constexpr size_t sweep_every = 4096;

} // namespace

void answer_with_error(const caf::strong_actor_ptr& requester, caf::message_id mid,
                       caf::error err) {
  if (requester && mid.is_request())
    requester->enqueue(nullptr, mid.response_id(), caf::make_message(std::move(err)),
                       nullptr);
}

pending_requests::pending_requests(caf::actor_system& sys, size_t max_entries)
  : sys_(sys), max_entries_(max_entries) {
  // nop
}

void pending_requests::add(const caf::strong_actor_ptr& requester, caf::message_id mid,
                           const caf::node_id& nid, caf::actor_id aid) {
  std::vector<entry> evicted;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    key k{requester->id(), mid.request_id().integer_value()};
    auto seq = next_seq_++;
    entries_[k] = entry{caf::actor_cast<caf::weak_actor_ptr>(requester), mid, nid, aid, seq};
    order_.emplace_back(k, seq);
    if (++added_since_sweep_ >= sweep_every) {
      added_since_sweep_ = 0;
      for (auto i = entries_.begin(); i != entries_.end();)
        i = i->second.requester.lock() ? std::next(i) : entries_.erase(i);
    }
    while (entries_.size() > max_entries_ && !order_.empty()) {
      auto [oldest, oldest_seq] = order_.front();
      order_.pop_front();
      auto i = entries_.find(oldest);
      if (i != entries_.end() && i->second.seq == oldest_seq) {
        evicted.push_back(std::move(i->second));
        entries_.erase(i);
      }
    }
    if (order_.size() > 2 * std::max(entries_.size(), sweep_every))
      compact_order();
  }
  if (evicted.empty())
    return;
  auto& x = evicted.front();
  answer(evicted,
         make_error(errc::too_many_requests,
                    std::to_string(max_entries_)
                      + " requests to other processes wait for their answers "
                        "(shmbus.max-pending-requests); the oldest, to actor "
                      + std::to_string(x.target) + " of process "
                      + std::to_string(process_id_of(x.node))
                      + ", failed to make room: answer requests or raise the bound"));
}

void pending_requests::compact_order() {
  std::vector<std::pair<uint64_t, key>> live;
  live.reserve(entries_.size());
  for (auto& [k, e] : entries_)
    live.emplace_back(e.seq, k);
  std::sort(live.begin(), live.end());
  order_.clear();
  for (auto& [seq, k] : live)
    order_.emplace_back(k, seq);
}

bool pending_requests::take(caf::actor_id requester, caf::message_id mid) {
  std::lock_guard<std::mutex> guard(mtx_);
  return entries_.erase({requester, mid.request_id().integer_value()}) > 0;
}

void pending_requests::fail(const caf::node_id& nid, caf::actor_id aid) {
  std::vector<entry> failed;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    for (auto i = entries_.begin(); i != entries_.end();) {
      if ((!nid || i->second.node == nid) && (aid == 0 || i->second.target == aid)) {
        failed.push_back(std::move(i->second));
        i = entries_.erase(i);
      } else {
        ++i;
      }
    }
    if (entries_.empty())
      order_.clear();
  }
  answer(failed, caf::sec::request_receiver_down);
}

void pending_requests::answer(std::vector<entry>& failed, const caf::error& why) {
  for (auto& req : failed) {
    if (auto requester = req.requester.lock()) {
      answer_with_error(requester, req.mid, why);
      // CAF 0.17 keeps a strong reference to the requester until the
      // request's timeout fires, answered or not: a lost peer or a stopped
      // node would keep the requester, and the actor system's shutdown,
      // waiting for up to the whole timeout.
      sys_.clock().cancel_request_timeout(requester->get(), req.mid.response_id());
    }
  }
}

} // namespace shmbus::bus
