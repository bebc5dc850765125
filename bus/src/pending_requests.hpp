// Requests this process sent to actors of other processes and that are not
// answered yet. CAF's own networking forgets them when a node is lost (the
// requester only sees its timeout, CAF issues #1466, #1051); the bus fails
// them at once with sec::request_receiver_down.
//
// Whoever removes an entry answers it, so each request is answered once:
// by its response (take() on the I/O thread), by fail() at peer loss, or
// with errc::too_many_requests when the table is full and it is the oldest
// (requests that are never answered must not pile up: CAF 0.17 does not put
// a request's timeout into the message, so the bus cannot expire them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <utility>

#include <caf/actor_addr.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/message_id.hpp>
#include <caf/node_id.hpp>
#include <caf/weak_intrusive_ptr.hpp>

namespace shmbus::bus {

/// Answers a request with `err`, exactly as CAF's sync_request_bouncer does;
/// nothing for a message that is not a request. Thread-safe.
void answer_with_error(const caf::strong_actor_ptr& requester, caf::message_id mid,
                       caf::error err);

class pending_requests {
public:
  /// Tracks up to `max_entries` requests (shmbus.max-pending-requests).
  pending_requests(caf::actor_system& sys, size_t max_entries);

  /// Tracks the request `mid` of `requester` to actor `aid` of `nid`. If
  /// that makes the table exceed its bound, the oldest request fails with
  /// errc::too_many_requests. Thread-safe; takes no CAF lock while it holds
  /// its own.
  void add(const caf::strong_actor_ptr& requester, caf::message_id mid,
           const caf::node_id& nid, caf::actor_id aid);

  /// Stops tracking; false if it was not tracked (answered or failed
  /// already). Thread-safe.
  bool take(caf::actor_id requester, caf::message_id mid);

  /// Fails every request to actor `aid` of `nid` (`aid` 0: to any actor of
  /// `nid`; invalid `nid`: every request) with request_receiver_down and
  /// cancels their CAF timeouts. Thread-safe; takes no CAF lock while it
  /// holds its own.
  void fail(const caf::node_id& nid, caf::actor_id aid);

private:
  using key = std::pair<caf::actor_id, uint64_t>;

  struct key_hash {
    size_t operator()(const key& k) const noexcept {
      // Request ids count up per requester: mixing the actor id in keeps
      // the ids of two requesters apart.
      return std::hash<uint64_t>{}(k.second * 0x9e3779b97f4a7c15ULL ^ k.first);
    }
  };

  struct entry {
    caf::weak_actor_ptr requester; // weak: must not keep the requester alive
    caf::message_id mid;
    caf::node_id node;
    caf::actor_id target;
    uint64_t seq; // order of arrival: the oldest goes first
  };

  /// Answers `failed` with `why` and cancels their CAF timeouts.
  void answer(std::vector<entry>& failed, const caf::error& why);
  /// Drops keys of `order_` whose entries are gone. Holds mtx_.
  void compact_order();

  caf::actor_system& sys_;
  size_t max_entries_;
  std::mutex mtx_;
  /// One hash lookup per request and answer (no ordered walk).
  std::unordered_map<key, entry, key_hash> entries_;
  /// Keys by age, oldest first; may hold keys of entries taken since
  /// (skipped when met, compacted when it grows past twice the table).
  std::deque<std::pair<key, uint64_t>> order_;
  uint64_t next_seq_ = 0;
  size_t added_since_sweep_ = 0;
};

} // namespace shmbus::bus
