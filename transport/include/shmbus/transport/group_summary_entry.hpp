// One row of the group summary (shared memory): a group that a process
// subscribes to or publishes to, with its local subscriber count and its
// counters, as that process publishes it for tools (`shmbusctl show`),
// which read a live bus without joining it. Subscriptions themselves travel
// in group records (the bus's group_router); these rows only mirror them.
//
// The region holds group_rows_per_node rows per node slot; only the process
// in that slot writes them. A row belongs to the node incarnation named in
// its state word, encoded as a name_entry's: it stops counting the moment
// that incarnation is no longer alive, so a process killed with SIGKILL
// leaves no groups behind.
//
// Single writer: the owning process bumps `version` to odd before it writes
// and to even after (a seqlock). Readers copy a row between two loads of
// version and state and give up after a few torn copies; every field they
// copy is untrusted (group_summary_table.hpp says what they check).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "shmbus/transport/atomic_text.hpp"
#include "shmbus/transport/name_entry.hpp"
#include "shmbus/transport/segment_layout.hpp"

namespace shmbus::transport {

/// The stored part of a group name; longer names are cut, and
/// `name_bytes` keeps the whole length so that readers can say so.
constexpr size_t group_summary_name_bytes = 64;

struct group_summary_entry {
  std::atomic<uint64_t> state;             // 0: make_name_state(state, owner slot, incarnation)
  std::atomic<uint64_t> version;           // 8: odd while the owner writes
  std::atomic<uint64_t> local_subscribers; // 16: actors of the owner's process that joined
  std::atomic<uint64_t> published;         // 24: messages sent to it from the owner's process
  std::atomic<uint64_t> records_out;       // 32: records written for them, one per process
  std::atomic<uint64_t> undelivered;       // 40: records that could not be written
  std::atomic<uint64_t> records_in;        // 48: records of other processes received
  std::atomic<uint32_t> name_bytes;        // 56: the whole name's length
  std::atomic<uint32_t> reserved;          // 60: zero
  atomic_text<group_summary_name_bytes> name; // 64: cut to 63 bytes
};

static_assert(sizeof(group_summary_entry) == group_summary_entry_bytes);
static_assert(offsetof(group_summary_entry, name) == 64);
static_assert(std::is_standard_layout_v<group_summary_entry>);

} // namespace shmbus::transport
