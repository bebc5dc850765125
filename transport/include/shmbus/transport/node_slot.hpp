// One process's entry in the node table (shared memory). The owner writes
// its identity while the slot is `joining` and then publishes `alive` with a
// release store of the state word; readers acquire-load the state word,
// copy what they need and re-load it to detect a concurrent re-use.
//
// Crash safety: every field is a lock-free atomic word, so a process killed
// mid-write leaves at worst a stale value, never a torn lock. The state word
// packs state and incarnation so that transitions are tied to one
// incarnation with a single CAS (a watcher cannot mark a newer incarnation
// dead by mistake).
//
// Trust: any process of the bus can write any word here. Nobody signals or
// evicts a process because of what a slot says: who the member is, which
// incarnation lives and whether it declared itself stuck are locks in the
// bus's lock file (bus_lock.hpp), which only the kernel reports. The owner
// compares its slot with its private copy on every heartbeat tick and
// restores what others changed.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "shmbus/transport/atomic_text.hpp"
#include "shmbus/transport/segment_layout.hpp"

namespace shmbus::transport {

enum class node_state : uint32_t {
  free = 0,     ///< never used
  joining = 1,  ///< owner is writing its identity
  alive = 2,
  leaving = 3,  ///< owner is detaching cleanly
  lost = 4,     ///< declared lost (heartbeat); the process may still exist
  dead = 5,     ///< the process is gone
};

/// "free", "joining", ...; never blocks, thread-safe.
const char* to_string(node_state x) noexcept;

enum class node_role : uint32_t { server = 1, client = 2 };

/// State word: high 32 bits state, low 32 bits incarnation.
constexpr uint64_t make_state_word(node_state s, uint32_t incarnation) {
  return (uint64_t{static_cast<uint32_t>(s)} << 32) | incarnation;
}
constexpr node_state state_of(uint64_t word) {
  return static_cast<node_state>(word >> 32);
}
constexpr uint32_t incarnation_of(uint64_t word) {
  return static_cast<uint32_t>(word);
}

/// Why a peer was reported lost.
enum class loss_cause : uint32_t {
  none = 0,
  left = 1,              ///< detached cleanly
  exited = 2,            ///< process exited; detail = exit code
  killed = 3,            ///< process killed; detail = signal number
  vanished = 4,          ///< process gone, status unknown (already reaped)
  heartbeat_timeout = 5, ///< no heartbeat within the timeout (hung); detail = ms
  evicted = 6,           ///< this node itself was declared lost by a peer
  stalled = 7,           ///< its own consumer stopped for detail ms: it declared itself lost
};

/// "left", "killed", ...; never blocks, thread-safe.
const char* to_string(loss_cause x) noexcept;

struct alignas(cache_line) node_slot {
  // -- identity (written by the owner while joining) ------------------------
  std::atomic<uint64_t> state;              // 0: make_state_word(...)
  std::atomic<int32_t> pid;                 // 8
  std::atomic<uint32_t> role;               // 12: node_role
  std::atomic<uint64_t> process_start;      // 16: /proc/<pid>/stat starttime
  std::atomic<int64_t> joined_unix_ns;      // 24
  std::atomic<uint64_t> reserved0[4];       // 32
  atomic_text<name_field_bytes> name;       // 64
  atomic_bytes<user_data_field_bytes> user_data; // 128: opaque to the transport
  // -- liveness -------------------------------------------------------------
  /// CLOCK_MONOTONIC ns (coarse) of the last round of the owner's inbox
  /// consumer: the heartbeat means "this process consumes its inbox".
  alignas(cache_line) std::atomic<int64_t> heartbeat_ns; // 192
  /// Written by the watcher that declared this incarnation lost.
  std::atomic<uint32_t> loss_cause;         // 200
  std::atomic<int32_t> loss_detail;         // 204
  /// Kernel thread id of the thread that consumed the inbox last, so peers
  /// can ask the kernel whether it makes progress while the heartbeat stands.
  std::atomic<int32_t> consumer_tid;        // 208
  std::atomic<uint32_t> reserved3;          // 212
  // -- counters written by the owner's senders (any thread) -----------------
  alignas(cache_line) std::atomic<uint64_t> msgs_out;    // 256
  std::atomic<uint64_t> bytes_out;          // 264
  std::atomic<uint64_t> send_errors;        // 272
  std::atomic<uint64_t> full_inbox_waits;   // 280
  std::atomic<uint64_t> producer_repairs;   // 288: impossible inbox tails/head caches put right
  // -- counters written by the owner's consumer thread ----------------------
  alignas(cache_line) std::atomic<uint64_t> msgs_in;     // 320
  std::atomic<uint64_t> bytes_in;           // 328
  std::atomic<uint64_t> corrupt_records;    // 336
  std::atomic<uint64_t> stale_dropped;      // 344: addressed to an older incarnation
  std::atomic<uint64_t> skipped_claims;     // 352: left uncommitted by dead producers
  std::atomic<uint64_t> checksum_failures;  // 360: records handed over not intact
  std::atomic<uint64_t> ring_repairs;       // 368: control words put right
  std::atomic<uint64_t> bytes_lost;         // 376: skipped as garbage by recovery
  // -- counters written by the owner's liveness thread ----------------------
  /// Words of this node's own slot that another process changed and this
  /// node restored.
  alignas(cache_line) std::atomic<uint64_t> slot_repairs;  // 384
  /// Times this node found its heartbeat word set back by another process.
  std::atomic<uint64_t> heartbeat_repairs;  // 392
  /// Peers whose pid word named a process that does not hold their slot.
  std::atomic<uint64_t> false_identities;   // 400
  /// Peers whose heartbeat word stood still while the kernel showed their
  /// consumer thread running.
  std::atomic<uint64_t> stale_heartbeats;   // 408
  std::atomic<uint64_t> reserved2[12];      // 416
};

static_assert(sizeof(node_slot) == node_slot_bytes);
static_assert(offsetof(node_slot, name) == 64);
static_assert(offsetof(node_slot, user_data) == 128);
static_assert(offsetof(node_slot, heartbeat_ns) == 192);
static_assert(offsetof(node_slot, msgs_out) == 256);
static_assert(offsetof(node_slot, msgs_in) == 320);
static_assert(offsetof(node_slot, consumer_tid) == 208);
static_assert(offsetof(node_slot, slot_repairs) == 384);
static_assert(decltype(node_slot::name)::capacity == limits::max_name_length);
static_assert(sizeof(node_slot::user_data) == limits::max_user_data_bytes);
static_assert(std::is_standard_layout_v<node_slot>);
static_assert(std::atomic<int64_t>::is_always_lock_free);

} // namespace shmbus::transport
