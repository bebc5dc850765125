// What a node knows about another node of its bus, and why it lost one.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "shmbus/transport/config.hpp"
#include "shmbus/transport/node_slot.hpp"

namespace shmbus::transport {

struct peer_info {
  uint32_t slot = 0;
  uint32_t incarnation = 0;
  int32_t pid = 0;
  node_role role = node_role::client;
  std::string name;
  /// Opaque bytes the peer attached when joining (the bus stores its CAF
  /// node id here).
  std::array<std::byte, limits::max_user_data_bytes> user_data{};
};

/// Counters of one node (from its slot; see node_slot).
struct node_counters {
  uint64_t msgs_out, bytes_out, send_errors, full_inbox_waits, producer_repairs;
  uint64_t msgs_in, bytes_in, corrupt_records, stale_dropped, skipped_claims;
  uint64_t checksum_failures, ring_repairs, bytes_lost;
  /// Tampering this node found: words of its own slot (and its heartbeat)
  /// it restored, peers' pid words the kernel contradicted, peers' heartbeat
  /// words that stood still while their consumer ran.
  uint64_t slot_repairs, heartbeat_repairs, false_identities, stale_heartbeats;
};

/// One counter of node_counters as tools show it: `shmbusctl show --json`
/// and `metrics` name it so, `watch` shows its rate.
struct counter_info {
  const char* name; ///< snake_case, e.g. "msgs_in"
  const char* help; ///< one line for people
  uint64_t node_counters::*member;
};

/// Every counter of node_counters, in slot order. Pure.
/// Everything counted as gone wrong at a node, for a one-column summary:
/// failed sends, garbage and repairs in its inbox, tampering it found.
uint64_t problem_count(const node_counters& c) noexcept;

constexpr size_t counter_count = 17;
const std::array<counter_info, counter_count>& counter_infos() noexcept;

static_assert(sizeof(node_counters) == counter_count * sizeof(uint64_t),
              "a new counter belongs in counter_infos() too");

struct peer_loss {
  peer_info peer;
  loss_cause cause = loss_cause::none;
  int32_t detail = 0; ///< exit code or signal number, by cause

  /// E.g. "node 'wallet' (slot 3, pid 4242) killed by signal 9".
  /// Never blocks; any thread.
  std::string describe() const;
};

/// The identity that node slot `s` (number `slot`) holds, as incarnation
/// `incarnation`. A copy of racing words: callers re-load the state word
/// afterwards to detect a concurrent re-use. Never blocks; any thread.
peer_info read_peer_info(const node_slot& s, uint32_t slot, uint32_t incarnation);

/// The counters in node slot `s` (relaxed loads, each possibly a little
/// stale). Never blocks; any thread.
node_counters read_counters(const node_slot& s) noexcept;

} // namespace shmbus::transport
