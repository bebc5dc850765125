// Every size, interval and timeout of the transport, in one place, with units
// in the types and compile-time checks that related values agree.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace shmbus::transport {

using namespace std::chrono_literals;

/// Sizes of a bus, fixed by the server when it creates the segment.
struct bus_limits {
  /// Node slots in the node table (the server takes slot 0).
  uint32_t node_slots = 64;
  /// Bytes of each node's inbox ring; a power of two.
  uint32_t inbox_bytes = 1u << 20;
  /// Largest message payload a node may send.
  uint32_t max_message_bytes = 64u << 10;
  /// Entries of the published-name table.
  uint32_t name_entries = 256;
};

namespace limits {
constexpr uint32_t max_node_slots = 4096;   // record header holds 12 bits
constexpr uint32_t min_inbox_bytes = 4096;
constexpr uint32_t max_inbox_bytes = 1u << 30;
constexpr size_t max_name_length = 63;      // node and published names
constexpr size_t max_bus_name_length = 64;
} // namespace limits

/// Liveness timing; the server writes it into the segment so every node of a
/// bus uses the same values.
struct liveness_timing {
  std::chrono::nanoseconds heartbeat_interval = 100ms;
  std::chrono::nanoseconds heartbeat_timeout = 1s;
};

namespace defaults {
constexpr std::chrono::nanoseconds heartbeat_interval = 100ms;
constexpr std::chrono::nanoseconds heartbeat_timeout = 1s;
/// How long a sender waits for room in a full inbox before failing.
constexpr std::chrono::nanoseconds full_inbox_timeout = 2s;
/// How long a client waits for a server that is setting the bus up.
constexpr std::chrono::nanoseconds attach_timeout = 2s;
/// How long a node's goodbye to each peer may take when it leaves.
constexpr std::chrono::nanoseconds leave_timeout = 100ms;
/// Adaptive idle strategy: busy-poll this long, then poll with sched_yield()
/// this long, then park. No pure spin by default: sched_yield() returns at
/// once when nothing else wants the core, so it detects a record as fast as
/// a spin across cores (64 B round trip 0.91 us either way), but it lets a
/// peer process on the same core, or this process's own CAF workers, run:
/// with both processes on one core the round trip went from 15 us (5 us
/// spin) to 4.6 us (shmbus-bench transport, same run).
constexpr std::chrono::nanoseconds spin_budget = 0us;
constexpr std::chrono::nanoseconds yield_budget = 100us;

/// Upper bound of one park, so a parked consumer re-checks on its own.
constexpr std::chrono::nanoseconds max_park = 100ms;

static_assert(heartbeat_timeout > 2 * heartbeat_interval,
              "a peer must miss several heartbeats before it is declared lost");
static_assert(max_park <= heartbeat_interval,
              "a parked consumer must wake at least once per heartbeat interval");
} // namespace defaults

} // namespace shmbus::transport
