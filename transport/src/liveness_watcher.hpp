// The liveness thread of a node: writes its heartbeat, watches every peer
// through a pidfd (the kernel says at once when a process exits, kill -9
// included) and through the peer's heartbeat (for hangs), and posts joined
// and lost events to its node's inbox consumer.
#pragma once

#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "shmbus/transport/inbox_consumer.hpp"
#include "shmbus/transport/segment.hpp"

namespace shmbus::transport {

class liveness_watcher {
public:
  /// Posts events to `events`; both it and `seg` must outlive the watcher.
  /// Throws std::system_error if it cannot create its descriptors.
  liveness_watcher(inbox_consumer& events, const segment& seg, uint32_t own_slot,
                   uint32_t own_incarnation, bool kill_hung_peers);
  ~liveness_watcher();

  liveness_watcher(const liveness_watcher&) = delete;
  liveness_watcher& operator=(const liveness_watcher&) = delete;

  /// Watches the peers present now, then starts the thread. Throws
  /// std::system_error if it cannot. Owner thread, once.
  void start();

  /// Stops and joins the thread; idempotent. Blocks until the thread ends
  /// its current round (no waits inside one). Owner thread.
  void stop() noexcept;

  /// Watches (slot, incarnation) from now on; if it is already gone, posts
  /// its loss at once. Takes the watcher's mutex briefly. Any thread.
  void watch(uint32_t slot, uint32_t incarnation);

private:
  struct watched_peer {
    uint32_t incarnation = 0; // 0: nothing watched in this slot
    int32_t pid = 0;
    int pidfd = -1;
    int proc_dir = -1;
    bool lost = false;
  };

  void run();
  void tick();
  void watch_locked(uint32_t slot, uint64_t state_word);
  void on_exit_locked(uint32_t slot);
  void check_heartbeat_locked(uint32_t slot, int64_t now);
  void mark_dead_locked(uint32_t slot, loss_cause cause, int32_t detail) noexcept;
  void report_locked(uint32_t slot, loss_cause cause, int32_t detail);
  void forget_locked(uint32_t slot) noexcept;

  inbox_consumer& events_;
  const segment& seg_;
  uint32_t own_slot_;
  uint32_t own_incarnation_;
  bool kill_hung_peers_;
  bool evicted_ = false;

  std::mutex mutex_;
  std::vector<watched_peer> peers_;
  int epoll_fd_ = -1;
  int stop_fd_ = -1;
  std::thread thread_;
};

} // namespace shmbus::transport
