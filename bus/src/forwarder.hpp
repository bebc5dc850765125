// The send path of proxies, the hot path of the bus: a message enqueued into
// a proxy is serialized once, on the sender's thread, straight into a record
// (record_codec) and written into the owner's inbox (outbox). No broker
// actor on the way out. Requests are tracked (pending_requests) before the
// record is written: the answer may arrive first.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/mailbox_element.hpp>

#include "shmbus/bus/bus_settings.hpp"

#include "once_log.hpp"
#include "outbox.hpp"
#include "peer_table.hpp"
#include "pending_requests.hpp"
#include "record_codec.hpp"
#include "remote_links.hpp"

namespace shmbus::bus {

class shm_actor_proxy;

class forwarder {
public:
  /// `stopping` turns true when the node stops; messages then bounce.
  forwarder(caf::actor_system& sys, const bus_settings& settings,
            const std::atomic<bool>& stopping, peer_table& peers, pending_requests& pending,
            record_codec& codec, outbox& out, remote_links& links, once_log& log);

  /// Sends `what` to the remote actor of `proxy`. Content that cannot cross
  /// (unregistered type, too large) and failed writes answer a request with
  /// the error, or are counted and logged. Any thread.
  /// @warning Blocks the caller for up to full-inbox-timeout while the
  ///          destination's inbox is full (not on the I/O thread).
  void forward(shm_actor_proxy& proxy, caf::mailbox_element_ptr what);

  /// See node::undelivered(). Thread-safe.
  uint64_t undelivered() const noexcept {
    return undelivered_.load(std::memory_order_relaxed);
  }

private:
  void report_failure(const caf::mailbox_element& what, const caf::error& err,
                      const std::string& receiver);

  caf::actor_system& sys_;
  const bus_settings& settings_;
  const std::atomic<bool>& stopping_;
  peer_table& peers_;
  pending_requests& pending_;
  record_codec& codec_;
  outbox& out_;
  remote_links& links_;
  once_log& log_;
  std::atomic<uint64_t> undelivered_{0};
  /// Counts and logs a record that failed in the outbox's queue after
  /// forward() returned.
  outbox::lost_hook lost_;
};

} // namespace shmbus::bus
