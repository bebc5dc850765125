// The processes of the bus as this node knows them: by CAF node id (to route
// a proxy's messages), by (slot, incarnation) (to name the sender of a
// record), a lock-free "alive" word per slot for the send path, and how lost
// processes left.
//
// The I/O thread learns of peers in order (transport::inbox_handler), but a
// sending thread may meet a peer's node id before that: route() and
// node_of() then read the transport's node table, which is the truth.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/node_id.hpp>

#include "shmbus/bus/node.hpp"
#include "shmbus/transport/node.hpp"

namespace shmbus::bus {

/// One incarnation of a process on the bus.
struct peer_ref {
  uint32_t slot = 0;
  uint32_t incarnation = 0;
};

class peer_table {
public:
  /// Sized for the bus that `transport` joined; knows nobody yet.
  explicit peer_table(transport::node& transport);

  /// Node slots of the bus.
  uint32_t slots() const noexcept { return slots_; }

  /// Learns `peer` (joined, or met on the send path) and asks the transport
  /// to report its loss. Peers without a CAF node id (transport-only tools)
  /// are ignored. Thread-safe.
  void remember(const transport::peer_info& peer);

  /// The live incarnation that hosts `nid`, if any. Thread-safe.
  std::optional<peer_ref> route(const caf::node_id& nid);

  /// The CAF node of an incarnation, also one the I/O thread has not
  /// announced yet; invalid once it is lost. Thread-safe.
  caf::node_id node_of(peer_ref ref);

  /// The node name of whoever holds `slot` ("?" if out of range), for
  /// messages. Thread-safe.
  std::string name_of(uint32_t slot) const;

  /// True while `ref` is the live incarnation of its slot. Thread-safe,
  /// lock-free: read on every send.
  bool alive(peer_ref ref) const noexcept {
    // Pairs with the release stores of remember(), forget() and close().
    return ref.slot < slots_
           && alive_[ref.slot].load(std::memory_order_acquire) == alive_word(ref.incarnation);
  }

  /// Records how `loss.peer` left and forgets it: alive() turns false.
  /// Returns its CAF node id if it was known. I/O thread.
  caf::node_id forget(const transport::peer_loss& loss);

  /// alive() is false for every peer from now on (the node stops).
  void close() noexcept;

  /// The live process with `pid`, this node excluded. Thread-safe.
  std::optional<peer_ref> find_process(int pid);

  /// The live peers. Thread-safe; may be stale when it returns.
  std::vector<peer_view> peers() const;

  /// How the process `pid` left, among the last max_loss_reports losses.
  /// Thread-safe.
  std::optional<loss_report> loss_of(int pid) const;

private:
  struct entry {
    peer_ref ref;
    caf::node_id node;
    std::string name;
    int pid = 0;
    bool server = false;
  };

  static uint64_t key_of(peer_ref ref) noexcept {
    return (uint64_t{ref.slot} << 32) | ref.incarnation;
  }

  /// What alive_ holds for a live incarnation; 0 means "nobody".
  static uint64_t alive_word(uint32_t incarnation) noexcept {
    return (uint64_t{incarnation} << 1) | 1;
  }

  transport::node& transport_;
  uint32_t slots_;
  /// Per slot; see alive_word().
  std::unique_ptr<std::atomic<uint64_t>[]> alive_;

  mutable std::mutex mtx_;
  std::unordered_map<caf::node_id, entry> by_node_;
  std::vector<entry> by_slot_;
  std::unordered_map<uint64_t, caf::node_id> node_by_ref_;
  std::map<int, loss_report> losses_;
  /// Pids in losses_, oldest first (the bound drops from the front).
  std::deque<int> loss_order_;
};

} // namespace shmbus::bus
