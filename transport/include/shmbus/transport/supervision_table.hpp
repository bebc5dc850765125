// The supervision table: supervisors publish themselves and their children
// (name, kind, state, pid, restarts, last exit reason) for tools such as
// `shmbusctl tree`, which print every supervisor of a bus without joining it.
// Rows belong to a node incarnation (supervision_entry.hpp): a process that
// dies takes its rows with it; a supervisor that stops releases its own.
//
// Threads: claim(), write() and release() may run in any thread, but each
// row has one writer at a time (the one that claimed it); list() may run
// anywhere at once. Nothing here waits; answers are snapshots.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shmbus/transport/error.hpp"
#include "shmbus/transport/segment.hpp"
#include "shmbus/transport/supervision_entry.hpp"

namespace shmbus::transport {

/// A row as written or read (a copy, never a view of shared memory).
struct supervision_row {
  uint32_t owner_slot = 0;
  uint32_t owner_incarnation = 0;
  uint64_t supervisor_id = 0;
  std::string supervisor_name;
  /// supervisor_row_position for the supervisor itself.
  uint32_t position = supervisor_row_position;
  std::string strategy;   ///< supervisor row: "one_for_one", ...
  std::string child_name; ///< child rows
  supervised_kind kind = supervised_kind::worker;
  supervised_state state = supervised_state::stopped;
  int32_t pid = 0;
  uint64_t restarts = 0;
  uint64_t child_actor_id = 0;
  std::string last_exit_reason;
  int64_t updated_unix_ns = 0;

  bool is_supervisor() const noexcept { return position == supervisor_row_position; }
};

class supervision_table {
public:
  explicit supervision_table(const segment& seg) noexcept : seg_(&seg) {}

  /// Takes a row for the node (slot, incarnation): a free one, or one whose
  /// owner is gone. supervision_table_full if there is none. Never blocks.
  result<uint32_t> claim(uint32_t slot, uint32_t incarnation) noexcept;

  /// Writes `row` into row `index`, claimed by (slot, incarnation) before;
  /// texts are cut to their fields. invalid_argument if the row is not the
  /// caller's (any more). Never blocks.
  error write(uint32_t index, uint32_t slot, uint32_t incarnation,
              const supervision_row& row) noexcept;

  /// Frees row `index` if (slot, incarnation) holds it. Never blocks.
  void release(uint32_t index, uint32_t slot, uint32_t incarnation) noexcept;

  /// Every written row of a live owner, in table order. Never blocks
  /// (rows being rewritten right now are left out).
  std::vector<supervision_row> list() const;

private:
  bool read_row(uint32_t index, supervision_row& out) const;

  const segment* seg_;
};

} // namespace shmbus::transport
