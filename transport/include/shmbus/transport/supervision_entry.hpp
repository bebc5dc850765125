// One row of the supervision table (shared memory): a supervisor, or one
// child of a supervisor, as the process that runs the supervisor publishes
// it for tools (`shmbusctl tree`). A row belongs to the node incarnation
// named in its state word, encoded as a name_entry's: it stops counting the
// moment that incarnation is no longer alive, so a supervisor killed with
// its process never leaves rows behind.
//
// Single writer: only the owning process writes a row, bumping `version`
// to odd before and to even after (a seqlock). Readers copy the row between
// two loads of version and state and give up after a few torn copies;
// every field they copy is untrusted (texts are bounded, enums checked).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "shmbus/transport/atomic_text.hpp"
#include "shmbus/transport/name_entry.hpp"
#include "shmbus/transport/segment_layout.hpp"

namespace shmbus::transport {

/// `position` of the row that describes the supervisor itself; its
/// children's rows have their place in start order (0, 1, ...).
constexpr uint32_t supervisor_row_position = 0xffffffff;

/// What a child is (supervision::child_kind, as the table stores it).
enum class supervised_kind : uint32_t { worker = 0, supervisor = 1 };

/// How a child is (supervision::child_state, as the table stores it).
enum class supervised_state : uint32_t { running = 0, stopped = 1, restarting = 2 };

/// "worker", "supervisor"; "unknown" for a value no build writes.
const char* to_string(supervised_kind x) noexcept;
/// "running", "stopped", "restarting"; "unknown" otherwise.
const char* to_string(supervised_state x) noexcept;

/// Text fields of a row, sized by what they hold.
constexpr size_t supervision_name_bytes = 64;
constexpr size_t supervision_strategy_bytes = 32;
constexpr size_t supervision_reason_bytes = 288;

struct supervision_entry {
  std::atomic<uint64_t> state;            // 0: make_name_state(state, owner slot, incarnation)
  std::atomic<uint64_t> version;          // 8: odd while the owner writes
  std::atomic<uint64_t> supervisor_id;    // 16: the supervisor's actor id in its process
  std::atomic<uint64_t> child_actor_id;   // 24: a child supervisor's own supervisor_id; 0: none
  std::atomic<uint64_t> restarts;         // 32
  std::atomic<int64_t> updated_unix_ns;   // 40
  std::atomic<int32_t> pid;               // 48: process that runs the child; 0: unknown
  std::atomic<uint32_t> position;         // 52: start order, or supervisor_row_position
  std::atomic<uint32_t> kind;             // 56: supervised_kind
  std::atomic<uint32_t> child_state;      // 60: supervised_state
  atomic_text<supervision_name_bytes> supervisor_name;     // 64
  atomic_text<supervision_name_bytes> child_name;          // 128
  atomic_text<supervision_strategy_bytes> strategy;        // 192: supervisor row only
  atomic_text<supervision_reason_bytes> last_exit_reason;  // 224
};

static_assert(sizeof(supervision_entry) == supervision_entry_bytes);
static_assert(offsetof(supervision_entry, supervisor_name) == 64);
static_assert(offsetof(supervision_entry, last_exit_reason) == 224);
static_assert(std::is_standard_layout_v<supervision_entry>);

} // namespace shmbus::transport
