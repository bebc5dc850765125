// A process's membership in a bus: the server creates the bus, clients
// attach. A node owns its slot in the node table, its inbox, a liveness
// thread (heartbeat out, loss detection in) and the locks that enforce the
// seed's rules: one server per bus, no server start while clients live,
// stale segments of dead processes replaced without manual steps.
//
// Threads: send(), wake(), publish/lookup and peer queries may be called
// from any thread; poll() and run_once() from one consumer thread only.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "shmbus/transport/bus_lock.hpp"
#include "shmbus/transport/bus_name.hpp"
#include "shmbus/transport/config.hpp"
#include "shmbus/transport/error.hpp"
#include "shmbus/transport/idle_strategy.hpp"
#include "shmbus/transport/inbox_reader.hpp"
#include "shmbus/transport/name_table.hpp"
#include "shmbus/transport/peer.hpp"
#include "shmbus/transport/segment.hpp"

namespace shmbus::transport {

class liveness_watcher;

struct node_options {
  std::string bus;
  node_role role = node_role::client;
  /// Shown by tools and in loss reports, e.g. "wallet".
  std::string name;
  /// Server only: sizes and timing of the bus (clients read the segment's).
  bus_limits limits;
  liveness_timing timing;
  /// Server only: permission bits of the segment and lock file.
  unsigned file_mode = 0600;
  /// Server only: how long to wait for clients of a previous server to exit
  /// before refusing to start.
  std::chrono::nanoseconds wait_for_clients = std::chrono::nanoseconds::zero();
  /// Client only: how long to wait for a server that is setting the bus up.
  std::chrono::nanoseconds attach_timeout = defaults::attach_timeout;
  std::chrono::nanoseconds full_inbox_timeout = defaults::full_inbox_timeout;
  idle_strategy idle;
  /// SIGKILL a peer this node declares hung, so its unfinished records can
  /// be skipped safely and its supervisor restarts it.
  bool kill_hung_peers = true;
  /// Up to 64 opaque bytes published with this node (see peer_info).
  std::vector<std::byte> user_data;
};

/// A message in the inbox, valid only during on_message.
struct message_view {
  uint32_t sender_slot;
  uint32_t sender_incarnation;
  const std::byte* data;
  size_t size;
};

/// Receives, on the consumer thread and in order, what poll() finds.
/// Guarantees: a peer is announced (on_peer_joined) before its first
/// message; its loss comes after every message it committed to this inbox;
/// nothing from an incarnation follows its loss.
class inbox_handler {
public:
  virtual ~inbox_handler() = default;
  virtual void on_message(const message_view& msg) = 0;
  virtual void on_peer_joined(const peer_info&) {}
  /// Also called with this node itself as the peer and cause `evicted` when
  /// peers declared this node lost.
  virtual void on_peer_lost(const peer_loss&) {}
  /// A problem found in the inbox (corrupt record, ...), already counted.
  virtual void on_error(const error&) {}
};

class node {
public:
  /// Creates (server) or joins (client) the bus named in `options`.
  static result<std::unique_ptr<node>> start(node_options options);

  node(const node&) = delete;
  node& operator=(const node&) = delete;
  /// Leaves the bus cleanly (see leave()).
  ~node();

  /// Says goodbye to every peer (they report it lost with cause `left`
  /// after its last message), unpublishes its names and releases its slot.
  /// A server also removes the bus when no client is left. Idempotent.
  void leave() noexcept;

  // -- identity -------------------------------------------------------------

  uint32_t slot() const noexcept { return slot_; }
  uint32_t incarnation() const noexcept { return incarnation_; }
  node_role role() const noexcept { return options_.role; }
  const std::string& bus() const noexcept { return options_.bus; }
  const std::string& name() const noexcept { return options_.name; }
  const bus_limits& limits() const noexcept { return seg_.limits(); }
  const liveness_timing& timing() const noexcept { return seg_.timing(); }
  const segment& shared_segment() const noexcept { return seg_; }

  /// Lines about what start() found, e.g. a stale segment it replaced.
  const std::vector<std::string>& start_notes() const noexcept {
    return start_notes_;
  }

  // -- sending (any thread) -------------------------------------------------

  /// Waits as long as node_options::full_inbox_timeout says.
  static constexpr std::chrono::nanoseconds default_wait{-1};

  /// Copies `size` bytes into the inbox of (slot, incarnation). Waits up to
  /// `max_wait` for room (zero: not at all); fails with inbox_full after
  /// that and with peer_lost as soon as the destination is known dead.
  /// Never drops silently.
  error send(uint32_t to_slot, uint32_t to_incarnation, const void* data,
             size_t size, std::chrono::nanoseconds max_wait = default_wait) noexcept;

  /// Like send(), but `fill(std::byte* dst)` writes the `size` payload bytes
  /// straight into the destination inbox.
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

  // -- receiving (consumer thread) ------------------------------------------

  /// Hands up to `max_records` records and any due events to `handler`
  /// without waiting. Returns how many it handed over.
  size_t poll(inbox_handler& handler, size_t max_records = 256) noexcept;

  /// poll(), and if that found nothing, waits per the idle strategy until
  /// something arrives or `max_wait` passes, then polls again.
  size_t run_once(inbox_handler& handler, std::chrono::nanoseconds max_wait,
                  size_t max_records = 256) noexcept;

  /// Makes the consumer thread return from its wait (any thread).
  void wake() noexcept;

  // -- peers ------------------------------------------------------------------

  /// The peer in `slot` if it is alive now.
  std::optional<peer_info> peer(uint32_t slot) const;

  /// Every live node of the bus, this one included.
  std::vector<peer_info> peers() const;

  /// Makes sure the loss of (slot, incarnation) will be reported, even if
  /// the liveness thread has not seen it join yet: if it is already gone,
  /// the loss is queued at once.
  void watch(uint32_t slot, uint32_t incarnation);

  node_counters counters(uint32_t slot) const noexcept;

  // -- names ----------------------------------------------------------------

  error publish(std::string_view name, uint64_t value, uint64_t aux = 0);
  error unpublish(std::string_view name);
  result<published_name> lookup(std::string_view name) const;
  result<published_name> await_name(std::string_view name,
                                    std::chrono::nanoseconds timeout) const;
  std::vector<published_name> published() const;

  // -- used by the liveness thread ------------------------------------------

  /// An event for the consumer thread, in order.
  struct event {
    enum class kind { joined, lost } type;
    uint32_t slot;
    uint32_t incarnation;
    loss_cause cause = loss_cause::none;
    int32_t detail = 0;
    /// Delivered once the consumer's head has passed this position: every
    /// record the lost peer committed to our inbox comes first.
    uint64_t drain_to = 0;
  };

  void post_event(event e);

private:
  explicit node(node_options options);

  error start_server();
  error start_client();
  error claim_slot(uint32_t slot);
  error claim_for_send(uint32_t to_slot, uint32_t to_incarnation, size_t size,
                       record_kind kind, std::chrono::nanoseconds max_wait,
                       inbox_ring::claim& out) noexcept;
  error finish_send(uint32_t to_slot, const inbox_ring::claim& c) noexcept;
  void send_goodbyes() noexcept;
  peer_info read_peer(uint32_t slot, uint64_t state_word) const;
  bool producer_gone(uint32_t slot, uint32_t incarnation_bits) const noexcept;
  bool has_work() const noexcept;
  void idle(std::chrono::nanoseconds max_wait) noexcept;
  size_t deliver_events(inbox_handler& handler);
  void announce(uint32_t slot, uint32_t incarnation, inbox_handler& handler);
  void report_loss(uint32_t slot, uint32_t incarnation, loss_cause cause,
                   int32_t detail, inbox_handler& handler);
  bool handle_record(const inbox_reader::entry& e, inbox_handler& handler);

  node_options options_;
  segment seg_;
  bus_lock lock_;
  std::unique_ptr<name_table> names_;
  uint32_t slot_ = 0;
  uint32_t incarnation_ = 0;
  std::vector<std::string> start_notes_;
  std::atomic<bool> left_{false};

  // Consumer thread only.
  inbox_reader reader_;
  struct known_peer {
    uint32_t incarnation = 0;
    bool alive = false;
    peer_info info;
  };
  std::vector<known_peer> known_;
  bool reported_corruption_ = false;

  // Events from the liveness thread (and watch()).
  std::mutex events_mutex_;
  std::vector<event> events_;
  std::atomic<bool> events_pending_{false};

  std::unique_ptr<liveness_watcher> watcher_;
};

} // namespace shmbus::transport
