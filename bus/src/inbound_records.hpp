// Records in: every record of this process's inbox is validated, decoded
// and turned into a mailbox element or a control action (watch, down, link,
// exit, stop). Nothing a peer writes may kill or mislead the receiver: a
// record that cannot be used is counted (node::rejected_records), logged
// once per sender incarnation and record kind with what is wrong and from
// whom, and skipped; a request in it is answered with an error whenever
// its sender and message id can still be read. Nothing CAF throws while
// reading or delivering escapes.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/fwd.hpp>

#include "shmbus/bus/bus_settings.hpp"
#include "shmbus/transport/inbox_handler.hpp"

#include "batching_clock.hpp"
#include "group_router.hpp"
#include "io_execution_unit.hpp"
#include "once_log.hpp"
#include "peer_table.hpp"
#include "pending_requests.hpp"
#include "record_codec.hpp"
#include "remote_links.hpp"
#include "stop_policy.hpp"
#include "stray_proxies.hpp"

namespace shmbus::bus {

class inbound_records {
public:
  inbound_records(caf::actor_system& sys, const bus_settings& settings,
                  caf::proxy_registry& proxies, io_execution_unit& eu, peer_table& peers,
                  pending_requests& pending, record_codec& codec, remote_links& links,
                  stop_policy& stop, stray_proxies& strays, group_router& groups,
                  once_log& log);

  /// Handles one record. Never throws. Runs on the thread that consumes the
  /// inbox (the I/O thread), as transport::inbox_handler::on_message.
  void handle(const transport::message_view& msg) noexcept;

  /// See node::rejected_records(). Thread-safe.
  uint64_t rejected() const noexcept { return rejected_.load(std::memory_order_relaxed); }

private:
  /// Dispatches a record whose kind byte is `kind` (body without it).
  void dispatch(peer_ref from, uint8_t kind, const std::byte* body, size_t size);
  void handle_message(peer_ref from, const std::byte* body, size_t size);
  /// A record that failed the transport's integrity check: nothing in it is
  /// delivered; a request whose head still reads is answered.
  void handle_corrupt(peer_ref from, uint8_t kind, const std::byte* body, size_t size);
  /// Counts and logs a record of `kind` from `from` that has `problem`.
  void reject(peer_ref from, uint8_t kind, const std::string& problem);

  caf::actor_system& sys_;
  const bus_settings& settings_;
  caf::proxy_registry& proxies_;
  io_execution_unit& eu_;
  peer_table& peers_;
  pending_requests& pending_;
  record_codec& codec_;
  remote_links& links_;
  stop_policy& stop_;
  stray_proxies& strays_;
  group_router& groups_;
  once_log& log_;
  /// The system's clock if it is shmbus's (bus_scheduler), else null: an
  /// answer from another process then cancels its request's timeout,
  /// which CAF 0.17.6 leaves scheduled until it fires (a cancellation
  /// costs this clock no wake-up; CAF's own would wake its thread).
  batching_clock* clock_;
  std::atomic<uint64_t> rejected_{0};
};

} // namespace shmbus::bus
