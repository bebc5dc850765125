// Lock-based membership of a bus: how a process becomes its server or one of
// its clients, and how it leaves. Roles are kernel-released locks in the
// bus's lock file (bus_lock.hpp), so a crash never leaves a role taken:
//
//   server  takes the server byte (one server per bus), then the members
//           byte exclusively: no server starts while clients of a previous
//           one live (it waits up to wait_for_clients for them to go). It
//           replaces whatever segment is left (every process that used it is
//           gone), claims slot 0 and keeps the members byte until it is
//           ready for clients: admit_clients().
//   client  takes the members byte shared, waiting up to attach_timeout
//           while a server sets the bus up; refuses a bus whose server byte
//           nobody holds; claims the first slot whose lock it wins.
//
// Claiming a slot locks the slot's byte and an incarnation byte (the
// kernel's record of who the member is and which incarnation lives), writes
// the node's identity while the slot is `joining` and then publishes
// `alive` with a release store of the state word.
// Leaving: `leaving`, a goodbye control record to every live peer (after our
// last message to it, so its loss comes in order), then `dead` with cause
// `left`; a server that leaves last removes the bus.
//
// Rejoining: a node that its peers declared lost (its state word no longer
// says alive with its incarnation) still holds its slot's lock, so the
// slot is still its own: it takes the next incarnation there, which peers
// see as a new node in that slot.
//
// Threads: the owner calls join(), admit_clients(), abandon(), rejoin(),
// say_goodbye() and release() from one thread, in that order (rejoin any
// number of times); slot() and start_notes() are constant after join(),
// incarnation() changes only in rejoin(); both may be read from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "shmbus/transport/bus_lock.hpp"
#include "shmbus/transport/error.hpp"
#include "shmbus/transport/node_options.hpp"
#include "shmbus/transport/segment.hpp"

namespace shmbus::transport {

class node_membership {
public:
  node_membership() = default;
  node_membership(const node_membership&) = delete;
  node_membership& operator=(const node_membership&) = delete;

  /// Takes the locks of `options.role` on `options.bus`, creates (server)
  /// or attaches (client) the segment into `seg`, which must outlive this
  /// object, and claims a slot, published `alive`. `options` must be valid
  /// (node::start checks them).
  /// @warning Blocks the caller: a server up to `options.wait_for_clients`,
  /// a client up to `options.attach_timeout` (re-trying every millisecond).
  error join(const node_options& options, segment& seg);

  /// Server: clients may join from now on. Client: nothing. Never blocks.
  void admit_clients() noexcept;

  /// Marks the claimed slot dead after a start that failed past join().
  /// Never blocks.
  void abandon() noexcept;

  /// After peers declared this node lost: claims the next incarnation of
  /// its slot, identity re-written, published `alive`. Refused (not_attached)
  /// while this node is still alive or leaving. Never blocks.
  error rejoin(const node_options& options);

  /// Whether peers declared this node lost: the slot says neither alive
  /// nor leaving with our incarnation (a snapshot). Never blocks; any thread.
  bool evicted() const noexcept;

  /// alive -> leaving, then a goodbye to every live peer; waits for room in
  /// full inboxes at most defaults::leave_timeout in total (best effort: a
  /// peer that misses it still sees us go through its liveness thread).
  /// Nothing if this node is no longer alive (it was declared lost).
  /// @warning Blocks the caller up to defaults::leave_timeout.
  void say_goodbye() noexcept;

  /// leaving -> dead with cause `left`; a server with no client left removes
  /// the segment (and the lock file unless a launcher holds it). Releases
  /// every lock. Never blocks.
  void release() noexcept;

  uint32_t slot() const noexcept { return slot_; }
  uint32_t incarnation() const noexcept {
    return incarnation_.load(std::memory_order_acquire);
  }

  /// The locks of this node: its slot and incarnation bytes, through which
  /// peers prove who it is. Valid from join() until release(); the liveness
  /// thread may use it as bus_lock.hpp allows.
  bus_lock& lock() noexcept { return lock_; }
  const bus_lock& lock() const noexcept { return lock_; }

  /// Lines about what join() found, e.g. a stale segment it replaced.
  const std::vector<std::string>& start_notes() const noexcept {
    return start_notes_;
  }

private:
  error join_as_server(const node_options& options);
  error join_as_client(const node_options& options);
  std::string live_clients(const segment& old) const;
  error claim_slot(uint32_t slot, const node_options& options);

  segment* seg_ = nullptr;
  bus_lock lock_;
  node_role role_ = node_role::client;
  std::string bus_;
  uint32_t slot_ = 0;
  std::atomic<uint32_t> incarnation_{0};
  std::vector<std::string> start_notes_;
};

} // namespace shmbus::transport
