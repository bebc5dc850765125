// A node's own slot as the node wrote it. Any process of the bus can write
// any word of the node table; the owner keeps a private copy of what it
// wrote and, on every heartbeat tick, restores what another process changed
// (and counts it), so garbage in a slot never evicts its live owner.
//
// The one change the owner accepts is `lost` for its incarnation when it may
// rightly have been declared lost (its consumer was silent, or it declared
// itself stuck): then it was evicted, and peers have already acted on it.
//
// Threads: the liveness thread calls everything but begin_leave(), which
// the owner thread calls before it starts to leave.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "shmbus/transport/node_slot.hpp"

namespace shmbus::transport {

class own_slot_guard {
public:
  /// Copies the identity `slot` holds now: call it right after joining,
  /// before anybody else knows the slot is ours.
  own_slot_guard(node_slot& slot, uint32_t incarnation);

  /// The state word may say `leaving` from now on. Any thread.
  void begin_leave() noexcept { leaving_.store(true, std::memory_order_release); }

  /// The node declared itself lost (its consumer is stuck): `lost` is now
  /// the state it must have.
  void declared_lost() noexcept { declared_lost_ = true; }

  enum class state_check {
    ok,       ///< as the owner left it
    restored, ///< another process changed it; set back (see `seen`)
    evicted,  ///< `lost` for our incarnation, which may be a peer's rightful verdict
  };

  /// Checks the state word. `may_be_lost`: the owner's consumer was silent
  /// long enough that a peer may rightly have declared it lost. `seen` is
  /// the word found. Never blocks.
  state_check check_state(bool may_be_lost, uint64_t& seen) noexcept;

  /// Restores the identity words (pid, role, start time, join time, name,
  /// user data) another process changed; returns their names.
  std::vector<std::string> restore_identity() noexcept;

  /// Restores the heartbeat word if it is older than `last_round` (the
  /// consumer's last stamp) or in the future; true if it did.
  bool restore_heartbeat(int64_t last_round, int64_t now) noexcept;

  /// Restores the consumer thread id word to `tid` (if known); true if it
  /// did. `previous` is the id seen at the last check: a consumer that moved
  /// to another thread may not have published the new id yet.
  bool restore_consumer_tid(int32_t tid, int32_t previous) noexcept;

private:
  node_slot& slot_;
  uint32_t incarnation_;
  std::atomic<bool> leaving_{false};
  bool declared_lost_ = false;
  // The identity as the owner wrote it.
  int32_t pid_;
  uint32_t role_;
  uint64_t process_start_;
  int64_t joined_unix_ns_;
  uint64_t name_[sizeof(node_slot::name.words) / sizeof(uint64_t)];
  uint64_t user_data_[sizeof(node_slot::user_data.words) / sizeof(uint64_t)];
};

} // namespace shmbus::transport
