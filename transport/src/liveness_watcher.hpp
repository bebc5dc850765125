// The liveness thread of a node. It watches every peer and guards its own
// slot; the heartbeat itself is written by the node's inbox consumer (see
// inbox_consumer.hpp), so it means "this process consumes its inbox".
//
// Peers. The node table is writable by every process of the bus, so it is
// never proof of anything (see member_proof.hpp):
//   - who a peer is: the process that holds its slot's lock, proven through
//     /proc/<pid>/fdinfo; only a proven member's pidfd is watched (kill -9
//     seen at once) and ever signalled. A pid word that fails the proof is
//     reported (false_identities) and the real holder searched for; until
//     one is proven the peer is watched through its lock alone.
//   - whether its incarnation lives: the lock byte of that incarnation
//     (F_OFD_GETLK each tick), whatever its state word says.
//   - whether it hangs: its heartbeat stood still for the heartbeat timeout
//     AND the kernel agrees: the process is stopped, its consumer thread
//     made no progress over the silent period, or it declared itself stuck
//     (its stall lock). A consumer thread that runs while its heartbeat word
//     stands still is reported ("tampered word?") and the peer kept. When
//     the kernel cannot tell, the peer is declared lost on its heartbeat,
//     but never signalled.
// Own slot: the words another process changed are restored and counted
// (own_slot_guard.hpp); a consumer that did not stamp the heartbeat for the
// heartbeat timeout makes the node declare itself lost (stall lock, state
// `lost`, cause `stalled`) so that peers act at once.
//
// What it finds goes to the consumer as events, in order: joins, losses,
// and problems (errc::table_tampered), each problem at most once per slot
// and kind per heartbeat timeout.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "shmbus/transport/bus_lock.hpp"
#include "shmbus/transport/error.hpp"
#include "shmbus/transport/inbox_consumer.hpp"
#include "shmbus/transport/segment.hpp"

#include "member_proof.hpp"
#include "own_slot_guard.hpp"
#include "process_info.hpp"

namespace shmbus::transport {

class liveness_watcher {
public:
  struct settings {
    uint32_t own_slot = 0;
    uint32_t own_incarnation = 0;
    /// Used in messages: "node 'wallet' (slot 3) on bus 'demo'".
    std::string own_description;
    /// SIGKILL a peer proven hung (through its proven pidfd only).
    bool kill_hung_peers = true;
    /// Called on the liveness thread when this node declares itself lost
    /// because its consumer is stuck (the consumer cannot deliver it).
    std::function<void(const error&)> on_stall;
    /// Called on the liveness thread when this incarnation is lost for
    /// good: a peer's verdict it accepts, or its own stall declaration.
    std::function<void()> on_evicted;
  };

  /// Posts events to `consumer`; it, `seg` and `lock` (the node's
  /// membership locks) must outlive the watcher. Takes a private copy of
  /// the own slot, so construct it right after joining. Throws
  /// std::system_error if it cannot create its descriptors.
  liveness_watcher(inbox_consumer& consumer, const segment& seg, bus_lock& lock,
                   settings config);
  ~liveness_watcher();

  liveness_watcher(const liveness_watcher&) = delete;
  liveness_watcher& operator=(const liveness_watcher&) = delete;

  /// Watches the peers present now (proving who they are: a few ms of /proc
  /// reads), then starts the thread. Throws std::system_error if it cannot.
  /// Owner thread, once.
  void start();

  /// Stops and joins the thread; idempotent. Blocks until the thread ends
  /// its current round (no waits inside one). Owner thread.
  void stop() noexcept;

  /// Watches (slot, incarnation) from now on; if it is already gone, its
  /// loss is posted soon. Lock-free when already watched, else a brief
  /// mutex and an eventfd write; never waits for the liveness thread's
  /// work. Any thread (also under CAF's locks).
  void watch(uint32_t slot, uint32_t incarnation);

  /// The owner begins to leave: its consumer may stop from now on without
  /// the node declaring itself stuck, and its state word may say `leaving`.
  /// Any thread.
  void begin_leave() noexcept {
    leaving_.store(true, std::memory_order_release);
    guard_.begin_leave();
  }

private:
  enum class problem_kind : uint8_t {
    false_identity,
    stale_heartbeat,
    own_slot,
    own_heartbeat,
    count_
  };

  struct watched_peer {
    uint32_t incarnation = 0; ///< 0: nothing watched in this slot
    bool lost = false;        ///< its loss was posted
    bool proven = false;      ///< `member` holds the slot's lock
    /// The proven member; or, once its incarnation ended unproven, the
    /// process the slot names, followed only for its exit status.
    proven_member member;
    pid_t claimed_pid = 0;    ///< the pid word at the last proof attempt
    int64_t next_search = 0;  ///< when a search for the real holder may run
    int64_t ended_at = 0;     ///< when its incarnation lock was first seen released
    // The heartbeat word as this node saw it move.
    int64_t last_word = 0;
    int64_t last_change = 0;
    // Progress samples since the heartbeat went quiet.
    bool suspect = false;
    /// Silence this thread observed since the baseline (see tick()).
    int64_t window_ns = 0;
    pid_t baseline_tid = 0;
    std::optional<detail::thread_progress> baseline_thread;
    std::optional<detail::thread_progress> baseline_process;
    int64_t last_report[static_cast<size_t>(problem_kind::count_)] = {};
  };

  enum class verdict { hung, stalled, progressing, unknown };

  void run();
  void tick();
  void take_requests();
  void on_request(uint32_t slot, uint32_t incarnation);
  void watch_slot(uint32_t slot, uint32_t incarnation);
  /// Reports an incarnation that lived and ended while we did not watch it:
  /// joined, then lost with the cause its slot records.
  void report_unwatched_end(uint32_t slot, uint32_t incarnation);
  void prove(uint32_t slot, int64_t now);
  void check_peer(uint32_t slot, int64_t now, int64_t observed);
  void on_exit(uint32_t slot);
  void incarnation_ended(uint32_t slot, int64_t now);
  void follow_claimed_exit(uint32_t slot);
  void check_heartbeat(uint32_t slot, int64_t now, int64_t observed);
  void take_baseline(watched_peer& p, uint32_t slot);
  verdict judge(watched_peer& p, uint32_t slot);
  void declare_hung(uint32_t slot, loss_cause cause, int64_t silent_ns, bool may_signal);
  void guard_own_slot(int64_t observed);
  void declare_stall(int64_t silent_ns);
  void mark_dead(uint32_t slot, uint32_t incarnation, loss_cause cause,
                 int32_t detail) noexcept;
  void post_loss(uint32_t slot, loss_cause cause, int32_t detail);
  void post_problem(uint32_t slot, problem_kind kind, std::string text);
  void forget(uint32_t slot) noexcept;
  std::string describe(uint32_t slot) const;

  inbox_consumer& consumer_;
  const segment& seg_;
  bus_lock& lock_;
  settings config_;
  member_prover prover_;
  own_slot_guard guard_;
  int64_t interval_ns_;
  int64_t timeout_ns_;

  // Liveness thread only (and start(), before the thread exists).
  std::vector<watched_peer> peers_;
  bool evicted_ = false;
  bool stall_declared_ = false;
  std::atomic<bool> leaving_{false};
  int64_t last_tick_ = 0;
  int64_t prev_round_ = 0;      ///< the consumer's stamp at the last tick
  int64_t own_quiet_ns_ = 0;    ///< silence of the consumer this thread observed
  int64_t last_long_gap_ = 0;   ///< when the consumer was last seen silent for long
  int32_t prev_tid_ = 0;
  int64_t next_search_ = 0;     ///< when the next search for a lock holder may run
  int64_t own_reports_[static_cast<size_t>(problem_kind::count_)] = {};

  // watch() requests: one incarnation per slot, read by the liveness thread.
  std::unique_ptr<std::atomic<uint32_t>[]> watching_; ///< per slot, for watch()'s fast path
  std::mutex requests_mutex_;
  std::vector<uint32_t> requests_;
  int request_fd_ = -1;

  int epoll_fd_ = -1;
  int stop_fd_ = -1;
  std::thread thread_;
};

} // namespace shmbus::transport
