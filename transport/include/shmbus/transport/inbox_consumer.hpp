// The receiving half of a node's data path. Reads the node's own inbox ring
// (through an inbox_reader), attributes every record to a peer incarnation, and merges the
// liveness thread's joined/lost events into the record stream, so that the
// handler sees one ordered story per peer:
//
//   joined  before the peer's first message (announced from the event, or
//           from its first record if that comes first);
//   lost    after every record the peer committed to this inbox: a loss is
//           posted with the inbox tail of that moment as its *drain
//           position* and waits until the consumer's head has passed it;
//           a goodbye record (the peer left) reports the loss in place.
//
// When the inbox is empty, the idle strategy says how the consumer waits
// (poll, sched_yield, then park on the ring's futex word).
//
// Garbage in the inbox is counted in the node's slot and reported through
// on_error: a corrupt record is skipped (bytes_lost), a record that fails
// its checksum is handed over marked not intact (checksum_failures), a
// claim that its live producer leaves uncommitted for twice the heartbeat
// timeout (once, if it already carries a committed record's stamp and
// checksum: a record whose kind was overwritten) is discarded, and about
// once per heartbeat interval the ring's control words are audited and
// repaired (ring_repairs).
//
// The consumer writes the node's heartbeat (Aeron's consumer heartbeat): a
// round of poll(), and a wait that runs long, stamps it, and a park lasts at
// most one heartbeat interval, so the heartbeat means "this process consumes
// its inbox", not merely "some thread of it runs". It also publishes its
// thread id, so peers can ask the kernel whether it progresses.
//
// Threads: attach() once, before any other call; post(), wake(),
// last_round_ns() and consumer_tid() from any thread; poll(), run_once()
// and rejoin() from one consumer thread at a time (callers that hand the
// inbox from one thread to another order the calls themselves).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "shmbus/transport/idle_strategy.hpp"
#include "shmbus/transport/inbox_handler.hpp"
#include "shmbus/transport/inbox_reader.hpp"
#include "shmbus/transport/segment.hpp"

namespace shmbus::transport {

class liveness_watcher;

/// A membership change, or a problem the liveness thread found, for the
/// consumer thread, in order.
struct inbox_event {
  enum class kind { joined, lost, problem } type;
  uint32_t slot;
  uint32_t incarnation;
  loss_cause cause = loss_cause::none;
  int32_t detail = 0;
  /// Delivered once the consumer's head has passed this position: every
  /// record the lost peer committed to our inbox comes first. post() sets
  /// it for losses.
  uint64_t drain_to = 0;
  /// kind::problem: handed to inbox_handler::on_error.
  error problem = {};
};

class inbox_consumer {
public:
  /// Records one poll() hands over at most unless told otherwise.
  static constexpr size_t default_batch = 256;

  inbox_consumer() = default;
  inbox_consumer(const inbox_consumer&) = delete;
  inbox_consumer& operator=(const inbox_consumer&) = delete;

  /// Binds to the inbox of (own_slot, own_incarnation) in `seg`, which must
  /// outlive this object. `watcher` (may be null) is told about peers first
  /// seen in a record; `where` names this node in error messages.
  /// Never blocks. Not thread-safe: once, before any other call.
  void attach(const segment& seg, uint32_t own_slot, uint32_t own_incarnation,
              const idle_strategy& idle, liveness_watcher* watcher,
              std::string where);

  /// Hands up to `max_records` records and every due event to `handler`.
  /// Never blocks (beyond what `handler` does). Consumer thread only.
  size_t poll(inbox_handler& handler, size_t max_records) noexcept;

  /// poll(); if that found nothing, waits per the idle strategy until
  /// something arrives, wake() is called or `max_wait` passes (each park
  /// capped at defaults::max_park and at the heartbeat interval), then
  /// polls again.
  /// @warning Blocks the caller up to `max_wait`. Consumer thread only.
  size_t run_once(inbox_handler& handler, std::chrono::nanoseconds max_wait,
                  size_t max_records) noexcept;

  /// Queues `e` for the consumer thread (a loss with the current inbox tail
  /// as its drain position) and wakes it. Takes a mutex held only for a
  /// vector push, never across a callback. Any thread.
  void post(inbox_event e);

  /// Makes the consumer return from its wait. Never blocks; any thread.
  void wake() noexcept;

  /// This node's slot now holds `incarnation` (node::rejoin), watched by
  /// `watcher`: records for older incarnations are dropped from now on.
  /// Never blocks. Consumer thread, or while no poll() runs.
  void rejoin(uint32_t incarnation, liveness_watcher* watcher) noexcept;

  /// CLOCK_MONOTONIC ns (coarse) of the last heartbeat stamp of the
  /// consumer; 0 before its first round. Lock-free; any thread.
  int64_t last_round_ns() const noexcept {
    // Pairs with the release store in stamp(): the heartbeat word written
    // before it is at least this new unless another process set it back.
    return last_round_.load(std::memory_order_acquire);
  }

  /// Kernel thread id of the thread that consumed last; 0 before the first
  /// round. Lock-free; any thread.
  int32_t consumer_tid() const noexcept { return tid_.load(std::memory_order_relaxed); }

private:
  void stamp() noexcept;
  bool has_work() const noexcept;
  void idle(std::chrono::nanoseconds max_wait) noexcept;
  size_t deliver_events(inbox_handler& handler);
  void announce(uint32_t slot, uint32_t incarnation, inbox_handler& handler);
  void report_loss(uint32_t slot, uint32_t incarnation, loss_cause cause,
                   int32_t detail, inbox_handler& handler);
  bool handle_record(const inbox_reader::entry& e, inbox_handler& handler);
  bool producer_gone(uint32_t slot, uint32_t incarnation_bits) const noexcept;
  bool claim_too_old(const inbox_reader::entry& e) noexcept;
  void report(inbox_handler& handler, const std::string& what);
  void report_corruption(const inbox_reader::entry& e, uint64_t skipped,
                         inbox_handler& handler);
  void audit(inbox_handler& handler, bool drained);

  // Set by attach(), read-only afterwards.
  const segment* seg_ = nullptr;
  node_slot* self_ = nullptr; ///< own slot: the consumer-side counters
  inbox_ring ring_;           ///< own inbox, for wake() and post()
  uint32_t slot_ = 0;
  uint32_t incarnation_ = 0;
  idle_strategy idle_;
  /// A park never outlasts a heartbeat interval: the parked consumer stamps.
  std::chrono::nanoseconds max_park_{defaults::max_park};
  /// Whether the last sched_yield() of an adaptive wait let another thread
  /// run: then the next wait yields from its start (see idle()). Consumer
  /// thread only.
  bool core_shared_ = true;
  liveness_watcher* watcher_ = nullptr;
  std::string where_;
  std::chrono::nanoseconds audit_interval_{};
  std::chrono::nanoseconds max_claim_age_{};

  // Written by the consumer thread, read by the liveness thread.
  std::atomic<int64_t> last_round_{0};
  std::atomic<int32_t> tid_{0};

  // Consumer thread only.
  inbox_reader reader_;
  std::chrono::steady_clock::time_point next_audit_{};
  int polls_since_audit_check_ = 0;
  /// The uncommitted claim at the head, and since when we wait for it.
  uint64_t pending_position_ = ~uint64_t{0};
  std::chrono::steady_clock::time_point pending_since_{};
  bool pending_looks_committed_ = false;
  struct known_peer {
    uint32_t incarnation = 0;
    bool alive = false;
    peer_info info;
  };
  std::vector<known_peer> known_; ///< one per node slot

  // Events from the liveness thread (and node::watch()).
  std::mutex events_mutex_;
  std::vector<inbox_event> events_;
  std::atomic<bool> events_pending_{false};
};

} // namespace shmbus::transport
