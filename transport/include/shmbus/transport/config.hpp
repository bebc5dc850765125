// Every size, interval and timeout of the transport, in one place, with units
// in the types and compile-time checks that related values agree. Other
// layers take their defaults from here (transport::defaults).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace shmbus::transport {

using namespace std::chrono_literals;

/// Hard limits: what the segment layout can represent.
namespace limits {
constexpr uint32_t max_node_slots = 4096;   // the record header holds 12 bits
constexpr uint32_t min_inbox_bytes = 4096;
constexpr uint32_t max_inbox_bytes = 1u << 30;
constexpr uint32_t max_name_entries = 65536;
/// Node names and published names (their fields keep a terminating zero).
constexpr size_t max_name_length = 63;
constexpr size_t max_bus_name_length = 64;
/// Opaque bytes a node publishes with its identity (node_slot::user_data).
constexpr size_t max_user_data_bytes = 64;
/// Rows of the supervision table and distinct errors of the error log.
constexpr uint32_t max_supervision_entries = 65536;
constexpr uint32_t max_error_entries = 4096;
/// The buffer pool: blocks of 4 KiB * 4^k up to 1 GiB, references held per
/// node slot (buffer_pool_data.hpp).
constexpr uint64_t max_pool_bytes = uint64_t{64} << 30;
constexpr uint64_t max_pool_block = uint64_t{1} << 30;
constexpr uint32_t max_pool_holder_entries = 65536;
} // namespace limits

namespace defaults {
// -- sizes of a bus (the server's choice; see bus_limits) ---------------------
constexpr uint32_t node_slots = 64;
constexpr uint32_t inbox_bytes = 1u << 20;
constexpr uint32_t max_message_bytes = 64u << 10;
constexpr uint32_t name_entries = 256;
/// A supervisor takes one row, each of its children one more.
constexpr uint32_t supervision_entries = 256;
/// Distinct errors the error log keeps (kind and text); later ones are
/// only counted as dropped.
constexpr uint32_t error_entries = 64;
/// Bytes of the buffer pool (shared buffers; 0: none), its largest block
/// and how many references one node may hold at once (each buffer it
/// holds or has sent and not yet seen adopted takes one).
constexpr uint64_t pool_bytes = uint64_t{8} << 20;
constexpr uint64_t pool_max_block = uint64_t{1} << 20;
constexpr uint32_t pool_holder_entries = 64;
/// How long a buffer reference waits for another process's step on the
/// same block (three stores; longer only if that process died in them).
constexpr std::chrono::nanoseconds pool_lock_timeout = 20ms;

// -- liveness (see liveness_timing) -------------------------------------------
constexpr std::chrono::nanoseconds heartbeat_interval = 100ms;
constexpr std::chrono::nanoseconds heartbeat_timeout = 1s;

// -- waits of one node ----------------------------------------------------------
/// How long a sender waits for room in a full inbox before failing.
constexpr std::chrono::nanoseconds full_inbox_timeout = 2s;
/// How long a client waits for a server that is setting the bus up.
constexpr std::chrono::nanoseconds attach_timeout = 2s;
/// How long a server waits for clients of a previous server to exit.
constexpr std::chrono::nanoseconds wait_for_clients = 0s;
/// How long a node's goodbye to each peer may take when it leaves.
constexpr std::chrono::nanoseconds leave_timeout = 100ms;
/// Adaptive idle strategy: busy-poll this long, then poll with sched_yield()
/// this long, then park. No pure spin by default: a yield lets a peer
/// process on the same core, or this process's own CAF workers, run: with
/// both processes on one core the round trip went from 15 us (5 us spin) to
/// 4.6 us (shmbus-bench transport, same run). While the yields find nobody
/// else who wants the core, the yield phase busy-polls between them
/// (inbox_consumer::idle), as fast as a spin across cores.
constexpr std::chrono::nanoseconds spin_budget = 0us;
constexpr std::chrono::nanoseconds yield_budget = 100us;

/// Upper bound of one park, so a parked consumer re-checks on its own.
constexpr std::chrono::nanoseconds max_park = 100ms;

/// Permission bits of a bus's lock file and hand-out socket.
constexpr unsigned file_mode = 0600;

/// A CRC32C per record, written by its producer and checked by the
/// consumer (the server's choice for the whole bus).
constexpr bool checksums = true;

/// How long a node that refuses to start asks the running bus who is in
/// the way (for its error message).
constexpr std::chrono::nanoseconds describe_timeout = 200ms;

static_assert(heartbeat_timeout > 2 * heartbeat_interval,
              "a peer must miss several heartbeats before it is declared lost");
static_assert(max_park <= heartbeat_interval,
              "a parked consumer must wake at least once per heartbeat interval");
static_assert(node_slots >= 2 && node_slots <= limits::max_node_slots);
static_assert(inbox_bytes >= limits::min_inbox_bytes
              && inbox_bytes <= limits::max_inbox_bytes
              && (inbox_bytes & (inbox_bytes - 1)) == 0,
              "an inbox is a power of two within the limits");
static_assert(max_message_bytes <= inbox_bytes / 2,
              "a message must fit twice into an inbox");
static_assert(name_entries >= 1 && name_entries <= limits::max_name_entries);
static_assert(supervision_entries >= 1
              && supervision_entries <= limits::max_supervision_entries);
static_assert(error_entries >= 1 && error_entries <= limits::max_error_entries);
static_assert(pool_bytes <= limits::max_pool_bytes && pool_max_block <= limits::max_pool_block);
static_assert(pool_holder_entries >= 1 && pool_holder_entries <= limits::max_pool_holder_entries);
} // namespace defaults

/// Sizes of a bus, fixed by the server when it creates the segment.
struct bus_limits {
  /// Node slots in the node table (the server takes slot 0).
  uint32_t node_slots = defaults::node_slots;
  /// Bytes of each node's inbox ring; a power of two.
  uint32_t inbox_bytes = defaults::inbox_bytes;
  /// Largest message payload a node may send.
  uint32_t max_message_bytes = defaults::max_message_bytes;
  /// Entries of the published-name table.
  uint32_t name_entries = defaults::name_entries;
  /// Rows of the supervision table (supervision_table.hpp).
  uint32_t supervision_entries = defaults::supervision_entries;
  /// Distinct errors the error log keeps (error_log.hpp).
  uint32_t error_entries = defaults::error_entries;
  /// Bytes of the buffer pool; 0: no pool.
  uint64_t pool_bytes = defaults::pool_bytes;
  /// Largest block: 4 KiB * 4^k.
  uint64_t pool_max_block = defaults::pool_max_block;
  /// References one node slot may hold at once.
  uint32_t pool_holder_entries = defaults::pool_holder_entries;
};

/// Liveness timing; the server writes it into the segment so every node of a
/// bus uses the same values.
struct liveness_timing {
  std::chrono::nanoseconds heartbeat_interval = defaults::heartbeat_interval;
  std::chrono::nanoseconds heartbeat_timeout = defaults::heartbeat_timeout;
};

} // namespace shmbus::transport
