#include "pending_requests.hpp"

#include <iterator>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/actor_system.hpp>
#include <caf/make_message.hpp>
#include <caf/sec.hpp>

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

pending_requests::pending_requests(caf::actor_system& sys) : sys_(sys) {
  // nop
}

void pending_requests::add(const caf::strong_actor_ptr& requester, caf::message_id mid,
                           const caf::node_id& nid, caf::actor_id aid) {
  std::lock_guard<std::mutex> guard(mtx_);
  entries_[{requester->id(), mid.request_id().integer_value()}]
    = entry{caf::actor_cast<caf::weak_actor_ptr>(requester), mid, nid, aid};
  if (++added_since_sweep_ >= sweep_every) {
    added_since_sweep_ = 0;
    for (auto i = entries_.begin(); i != entries_.end();)
      i = i->second.requester.lock() ? std::next(i) : entries_.erase(i);
  }
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
  }
  for (auto& req : failed) {
    if (auto requester = req.requester.lock()) {
      answer_with_error(requester, req.mid, caf::sec::request_receiver_down);
      // CAF 0.17 keeps a strong reference to the requester until the
      // request's timeout fires, answered or not: a lost peer or a stopped
      // node would keep the requester, and the actor system's shutdown,
      // waiting for up to the whole timeout.
      sys_.clock().cancel_request_timeout(requester->get(), req.mid.response_id());
    }
  }
}

} // namespace shmbus::bus
