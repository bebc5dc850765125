// Looking at and removing buses from outside (shmbusctl, tests): nothing
// here joins a bus. inspect_bus maps the segment read-only, got from one of
// the bus's processes (segment.hpp), so it waits for an answer up to the
// attach timeout; the rest is a few system calls. Thread-safe: the
// functions share no state. Reports are snapshots of a bus that keeps
// changing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "shmbus/transport/buffer_pool.hpp"
#include "shmbus/transport/config.hpp"
#include "shmbus/transport/error.hpp"
#include "shmbus/transport/error_log.hpp"
#include "shmbus/transport/name_table.hpp"
#include "shmbus/transport/node_slot.hpp"
#include "shmbus/transport/peer.hpp"
#include "shmbus/transport/group_summary_table.hpp"
#include "shmbus/transport/supervision_table.hpp"

namespace shmbus::transport {

struct node_report {
  uint32_t slot = 0;
  node_state state = node_state::free;
  uint32_t incarnation = 0;
  int32_t pid = 0;
  node_role role = node_role::client;
  std::string name;
  /// The process holds its slot lock: it runs (or hangs), it is not gone.
  bool process_running = false;
  int64_t heartbeat_age_ms = 0;
  loss_cause cause = loss_cause::none;
  int32_t detail = 0;
  node_counters counters{};
  /// Its inbox: bytes queued for it to consume, of `inbox_bytes`.
  uint64_t inbox_used_bytes = 0;
  uint64_t inbox_bytes = 0;
};

struct bus_report {
  std::string bus;
  bus_limits limits;
  liveness_timing timing;
  int32_t creator_pid = 0;
  bool server_running = false;
  uint64_t segment_bytes = 0;
  int64_t created_unix_ns = 0;
  std::vector<node_report> nodes; ///< every slot ever used
  std::vector<published_name> names;
  std::vector<supervision_row> supervision; ///< rows of live supervisors
  std::vector<logged_error> errors;
  uint64_t errors_dropped = 0;
  /// The buffer pool: use per size class and per holder (empty: no pool).
  pool_usage pool;
  /// The groups each live process shows (one row per process and group),
  /// and the rows left out as garbage.
  group_summary groups;
};

/// Reads the state of bus `bus` without joining it. A bus whose processes
/// are all gone has no segment left to read: bus_not_found.
/// @warning Blocks the caller up to defaults::attach_timeout (a hung bus).
result<bus_report> inspect_bus(std::string_view bus);

/// Removes the socket and lock file of `bus` (the lock file last). Refuses
/// with bus_in_use while its server, a client or its launcher runs. Returns
/// an error naming the file, the reason and the remedy for the first file
/// that exists and cannot be removed (or that is not the bus's own: a
/// symlink, another user's file); success means both are gone. Never blocks.
error remove_bus(std::string_view bus);

/// Names of the buses that have a lock file or socket in /dev/shm.
std::vector<std::string> list_buses();

} // namespace shmbus::transport
