// A process's handle on a bus: the server creates the bus, clients attach.
// A node is the composition of three protocols, each in its own file:
//
//   node_membership   lock-based membership: who may start, slot claim,
//                     goodbyes and leaving (node_membership.hpp);
//   send path         claim a record in the destination's inbox ring, fill
//                     it in place, commit, wake (here and node.cpp);
//   inbox_consumer    the receiving half: records and peer events in order,
//                     the idle strategy (inbox_consumer.hpp);
//
// plus a liveness thread (loss detection, guard of the own slot) that feeds
// the consumer's events, a hand-out thread that gives the segment to
// processes that join the bus or look at it (segment.hpp), and the bus's
// name table.
//
// The heartbeat is the consumer's: poll() and run_once() stamp it. A node
// whose consumer does not run for the heartbeat timeout declares itself
// lost, and its peers declare it hung (and kill it, when the kernel agrees
// that it is), so call them at least once per heartbeat interval.
//
// Threads: send(), send_with(), wake(), watch(), the peer queries and the
// name calls may be used from any thread at once; poll() and run_once() from
// one consumer thread at a time; start() and leave() from the owner.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shmbus/transport/bus_name.hpp"
#include "shmbus/transport/config.hpp"
#include "shmbus/transport/error.hpp"
#include "shmbus/transport/inbox_consumer.hpp"
#include "shmbus/transport/inbox_handler.hpp"
#include "shmbus/transport/name_table.hpp"
#include "shmbus/transport/node_membership.hpp"
#include "shmbus/transport/node_options.hpp"
#include "shmbus/transport/peer.hpp"
#include "shmbus/transport/segment.hpp"

namespace shmbus::transport {

class liveness_watcher;

namespace detail {
class segment_acceptor;
} // namespace detail

class node {
public:
  /// Creates (server) or joins (client) the bus named in `options`.
  /// @warning Blocks the caller: a server up to options.wait_for_clients, a
  /// client up to options.attach_timeout. Any thread.
  static result<std::unique_ptr<node>> start(node_options options);

  node(const node&) = delete;
  node& operator=(const node&) = delete;
  /// Leaves the bus cleanly (see leave()).
  ~node();

  /// Announces that this node is about to leave: its consumer may stop from
  /// now on without the node declaring itself stuck. leave() implies it.
  /// Never blocks; any thread.
  void begin_leave() noexcept;

  /// Says goodbye to every peer (they report it lost with cause `left`
  /// after its last message), unpublishes its names and releases its slot.
  /// A server also removes the bus when no client is left. Idempotent.
  /// @warning Blocks the caller up to defaults::leave_timeout, plus joining
  /// the liveness and hand-out threads. Owner thread; no poll()/run_once()
  /// may run.
  void leave() noexcept;

  /// After peers declared this node lost (send() fails with errc::evicted):
  /// takes the next incarnation of its slot, which it still holds, and
  /// announces it to peers as a new node (they saw the old one lost). Names
  /// published by the old incarnation are gone: publish them again.
  /// Refused (not_attached) while the node is not evicted or has left.
  /// @warning Blocks the caller while the liveness thread is restarted
  /// (one round of it). Owner thread; no poll()/run_once() may run.
  error rejoin() noexcept;

  // -- identity (constant after start; any thread) ----------------------------

  uint32_t slot() const noexcept { return membership_.slot(); }
  /// Changes only in rejoin().
  uint32_t incarnation() const noexcept { return membership_.incarnation(); }
  node_role role() const noexcept { return options_.role; }
  const std::string& bus() const noexcept { return options_.bus; }
  const std::string& name() const noexcept { return options_.name; }
  const bus_limits& limits() const noexcept { return seg_.limits(); }
  const liveness_timing& timing() const noexcept { return seg_.timing(); }
  const segment& shared_segment() const noexcept { return seg_; }

  /// Lines about what start() found, e.g. a stale segment it replaced.
  const std::vector<std::string>& start_notes() const noexcept {
    return membership_.start_notes();
  }

  // -- sending (any thread, lock-free) ------------------------------------------

  /// Waits as long as node_options::full_inbox_timeout says.
  static constexpr std::chrono::nanoseconds default_wait{-1};

  /// Copies `size` bytes into the inbox of (slot, incarnation). Waits up to
  /// `max_wait` for room (zero: not at all); fails with inbox_full after
  /// that, with peer_lost as soon as the destination is known dead, and
  /// with evicted once peers declared this node lost (every receiver would
  /// drop what it sends: leave or rejoin()). Never drops silently.
  /// @warning Blocks the caller while the destination inbox is full, up to
  /// `max_wait` (default_wait: node_options::full_inbox_timeout). Any thread.
  error send(uint32_t to_slot, uint32_t to_incarnation, const void* data,
             size_t size, std::chrono::nanoseconds max_wait = default_wait) noexcept;

  /// Like send(), but `fill(std::byte* dst)` writes the `size` payload bytes
  /// straight into the destination inbox. Keep `fill` short: the
  /// destination's consumer cannot read past an unfinished record.
  /// @warning Blocks like send(). Any thread.
  template <class Fill>
  error send_with(uint32_t to_slot, uint32_t to_incarnation, size_t size,
                  Fill&& fill,
                  std::chrono::nanoseconds max_wait = default_wait) noexcept {
    inbox_ring::claim c;
    if (auto err = claim_for_send(to_slot, to_incarnation, size,
                                  record_kind::data, max_wait, c))
      return err;
    fill(c.payload);
    return finish_send(to_slot, c);
  }

  // -- receiving (consumer thread) ------------------------------------------------

  /// Hands up to `max_records` records and any due events to `handler`
  /// without waiting, and stamps the heartbeat (a thread that only sends
  /// for a long time may poll zero records to do just that). Returns how
  /// many it handed over. Never blocks (beyond `handler`). Consumer thread.
  size_t poll(inbox_handler& handler,
              size_t max_records = inbox_consumer::default_batch) noexcept {
    return consumer_.poll(handler, max_records);
  }

  /// poll(), and if that found nothing, waits per the idle strategy until
  /// something arrives or `max_wait` passes, then polls again.
  /// @warning Blocks the caller up to `max_wait`. Consumer thread only.
  size_t run_once(inbox_handler& handler, std::chrono::nanoseconds max_wait,
                  size_t max_records = inbox_consumer::default_batch) noexcept {
    return consumer_.run_once(handler, max_wait, max_records);
  }

  /// Makes the consumer thread return from its wait. Never blocks; any thread.
  void wake() noexcept { consumer_.wake(); }

  // -- peers (any thread; answers are snapshots that may be stale) --------------

  /// The peer in `slot` if it is alive now. Never blocks.
  std::optional<peer_info> peer(uint32_t slot) const;

  /// Every live node of the bus, this one included. Never blocks.
  std::vector<peer_info> peers() const;

  /// Makes sure the loss of (slot, incarnation) will be reported, even if
  /// the liveness thread has not seen it join yet: if it is already gone,
  /// its loss is queued soon (the liveness thread asks the kernel). Never
  /// waits for the liveness thread: lock-free when it watches that
  /// incarnation already, else a brief mutex and an eventfd write.
  void watch(uint32_t slot, uint32_t incarnation);

  /// Counters of the node in `slot` (this node's if out of range).
  /// Never blocks.
  node_counters counters(uint32_t slot) const noexcept;

  // -- names (any thread; lock-free) ----------------------------------------------

  /// Never blocks.
  error publish(std::string_view name, uint64_t value, uint64_t aux = 0);
  /// Never blocks.
  error unpublish(std::string_view name);
  /// Never blocks.
  result<published_name> lookup(std::string_view name) const;
  /// @warning Blocks the caller up to `timeout` (futex wait on the names
  /// epoch). Do not call it from an actor.
  result<published_name> await_name(std::string_view name,
                                    std::chrono::nanoseconds timeout) const;
  /// Never blocks.
  std::vector<published_name> published() const;

  // -- used by the liveness thread --------------------------------------------------

  /// An event for the consumer thread, in order.
  using event = inbox_event;

  /// Queues `e` for the consumer thread and wakes it. Takes a mutex held
  /// only for a vector push. Any thread.
  void post_event(event e) { consumer_.post(e); }

private:
  explicit node(node_options options);

  error start_liveness();
  /// "node 'NAME' (slot N) on bus 'BUS'", for messages.
  std::string where() const;
  /// A watcher of the current incarnation (after joining or rejoining).
  std::unique_ptr<liveness_watcher> make_watcher();
  error start_handout();
  error claim_for_send(uint32_t to_slot, uint32_t to_incarnation, size_t size,
                       record_kind kind, std::chrono::nanoseconds max_wait,
                       inbox_ring::claim& out) noexcept;
  /// Commits `c`; its checksum covers `source` if given (inbox_ring::commit).
  error finish_send(uint32_t to_slot, const inbox_ring::claim& c,
                    const std::byte* source = nullptr) noexcept;
  std::string evicted_text(uint64_t own_word) const;

  node_options options_;
  segment seg_;
  node_membership membership_;
  std::unique_ptr<name_table> names_;
  std::atomic<bool> left_{false};
  /// Set by the liveness thread when it confirms that this incarnation was
  /// declared lost (by a peer, or by itself for a stuck consumer).
  std::atomic<bool> evicted_{false};
  inbox_consumer consumer_;
  std::unique_ptr<liveness_watcher> watcher_;
  std::unique_ptr<detail::segment_acceptor> acceptor_;
};

} // namespace shmbus::transport
