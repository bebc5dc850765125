// Which of the bus's two I/O threads consumes the inbox. With inline
// dispatch the consuming thread also runs the actors that remote messages
// wake, so one actor stuck in its handler would otherwise hold up every
// other actor of the process, and the consumer heartbeat with them (a busy
// actor is not a hung process). The other thread stands by: when the
// consumer has been inside one actor's handler for longer than the inline
// budget, it takes the token and carries on consuming; the stuck thread
// becomes the standby when it comes back.
//
// On the latency path the token costs uncontended atomics only: a load of
// the consumer word, a store of the time before and after each actor run,
// an exchange to lock the inbox. The standby sleeps on a condition variable,
// waking once per budget while actors run and once per idle period else.
//
// Reading the inbox is mutually exclusive (try_lock_inbox): records are
// never consumed by two threads at once, so per-sender order and the loss
// of a peer after its last message hold whichever thread reads.
//
// Threads: the two I/O threads (index 0 and 1) call everything; wake_all()
// any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace shmbus::bus {

class consumer_token {
public:
  static constexpr int thread_count = 2;

  /// `budget`: how long the consumer may run one actor before the standby
  /// takes over; `idle_period`: how often the standby looks while no actor
  /// ran since its last look.
  consumer_token(std::chrono::nanoseconds budget, std::chrono::nanoseconds idle_period);

  /// True if thread `me` is the consumer. Lock-free.
  bool is_consumer(int me) const noexcept {
    return consumer_.load(std::memory_order_acquire) == me;
  }

  /// Takes the right to read the inbox; false if another thread reads it
  /// now. Never blocks.
  bool try_lock_inbox() noexcept {
    return !inbox_locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock_inbox() noexcept { inbox_locked_.store(false, std::memory_order_release); }

  /// Thread `me` starts running one actor; returns the (coarse) time it
  /// recorded. Lock-free.
  int64_t enter_actor(int me) noexcept;
  /// Thread `me` finished running one actor. Lock-free.
  void leave_actor(int me) noexcept;

  /// The inline budget in ns (also the longest batch of actor runs between
  /// two polls of the inbox, so the consumer heartbeat keeps its pace).
  int64_t budget_ns() const noexcept { return budget_ns_; }

  /// Standby thread `me`: waits until the consumer has run one actor for
  /// longer than the budget and takes the token (true), or until `stopping`
  /// is set and wake_all() called (false).
  /// @warning Blocks the caller as long as the consumer keeps up.
  bool stand_by(int me, const std::atomic<bool>& stopping);

  /// Ends every stand_by() wait (when stopping). Any thread.
  void wake_all();

  /// How often the standby took over. Any thread.
  uint64_t handovers() const noexcept { return handovers_.load(std::memory_order_relaxed); }

private:
  const int64_t budget_ns_;
  const int64_t idle_period_ns_;
  std::atomic<int> consumer_{0};
  std::atomic<bool> inbox_locked_{false};
  /// Per thread: coarse monotonic ns when its current actor run began; 0
  /// while it runs none.
  std::atomic<int64_t> busy_since_[thread_count];
  /// Actor runs so far (the consumer's only; a standby's look compares).
  std::atomic<uint64_t> runs_{0};
  std::atomic<uint64_t> handovers_{0};
  std::mutex mtx_;
  std::condition_variable cv_;
};

} // namespace shmbus::bus
