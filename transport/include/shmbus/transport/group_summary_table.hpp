// The group summary: each process shows the groups it subscribes to or
// publishes to (local subscriber count and counters) in rows of its own
// node slot, so that tools such as `shmbusctl show` list every group of a
// bus, with its subscribed processes, without joining it. Rows belong to a
// node incarnation (group_summary_entry.hpp): a process that dies takes its
// rows with it.
//
// Everything read is untrusted: list() keeps only rows of live owners that
// sit in their owner's own slot, with a printable name, a name length that
// fits, zero reserved bits and a plausible subscriber count; anything else
// is left out and named in `problems`, never crashed or waited on.
//
// Threads: claim(), write() and release() of one slot's rows must be
// serialized by their caller (the bus's group_router holds its lock);
// list() may run anywhere at once. Nothing here waits; answers are
// snapshots.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shmbus/transport/error.hpp"
#include "shmbus/transport/segment.hpp"

namespace shmbus::transport {

/// A row as written or read (a copy, never a view of shared memory).
struct group_summary_row {
  uint32_t owner_slot = 0;
  uint32_t owner_incarnation = 0;
  /// Up to group_summary_name_bytes - 1 bytes of the name.
  std::string name;
  /// The name is longer than what the row holds (`name` is its start).
  bool name_cut = false;
  uint64_t local_subscribers = 0;
  uint64_t published = 0;
  uint64_t records_out = 0;
  uint64_t undelivered = 0;
  uint64_t records_in = 0;
};

/// What list() found.
struct group_summary {
  std::vector<group_summary_row> rows;
  /// Rows left out as garbage, each saying which and why (at most
  /// max_problems, then one line counting the rest).
  std::vector<std::string> problems;
  static constexpr size_t max_problems = 16;
};

class group_summary_table {
public:
  /// Most local subscribers a row may claim before readers call it garbage.
  static constexpr uint64_t max_plausible_subscribers = uint64_t{1} << 32;
  /// Longest group name a row may claim (a group record's one-byte length).
  static constexpr uint32_t max_name_bytes = 255;

  explicit group_summary_table(const segment& seg) noexcept : seg_(&seg) {}

  /// Takes a row of `slot` for its node (slot, incarnation): a free one, or
  /// one left by an incarnation that is gone. group_summary_full if all
  /// group_rows_per_node rows are in use. Never blocks.
  result<uint32_t> claim(uint32_t slot, uint32_t incarnation) noexcept;

  /// Writes `row` into row `index` of `slot`, claimed by (slot,
  /// incarnation) before; the name is cut to its field. invalid_argument if
  /// the row is not the caller's (any more). Never blocks.
  error write(uint32_t slot, uint32_t incarnation, uint32_t index,
              const group_summary_row& row) noexcept;

  /// Frees row `index` of `slot` if (slot, incarnation) holds it. Never
  /// blocks.
  void release(uint32_t slot, uint32_t incarnation, uint32_t index) noexcept;

  /// Every written row of a live owner, by slot and row. Never blocks (rows
  /// being rewritten right now are left out).
  group_summary list() const;

private:
  /// Copies row `index` of `slot`: true with `out` set, false if it is
  /// free, of a dead owner or torn; `problem` set if it is garbage.
  bool read_row(uint32_t slot, uint32_t index, group_summary_row& out,
                std::string& problem) const;

  const segment* seg_;
};

} // namespace shmbus::transport
