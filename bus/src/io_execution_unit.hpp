// The execution unit of the bus's I/O threads. Deserializers need it to find
// the bus's proxy registry (handles inside messages become proxies). With
// inline dispatch, it also runs the actors that remote messages wake up,
// right on an I/O thread: the latency path then has no scheduler wake-up
// (40-90 us on the target VM), as in a networking event loop.
//
// There are two I/O threads (see consumer_token.hpp): the one that holds the
// consumer token reads the inbox and runs the woken actors; when it is stuck
// in one actor, the other takes the token and runs the rest. So the actors
// woken by records wait in one queue that both threads serve.
//
// Threads: exec_later() from any thread; the others from the I/O threads
// unless they say otherwise.
#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include <caf/execution_unit.hpp>
#include <caf/resumable.hpp>

#include "consumer_token.hpp"

namespace shmbus::bus {

class io_execution_unit : public caf::execution_unit {
public:
  io_execution_unit(caf::actor_system& sys, caf::proxy_registry& proxies,
                    consumer_token& token, bool inline_dispatch);

  /// Called by CAF when an actor woken with this unit as context must run.
  /// Any thread.
  void exec_later(caf::resumable* job) override;

  /// I/O thread `me`: runs up to `max_jobs` woken actors while it holds the
  /// consumer token, for about the inline budget at most (one run may take
  /// longer); an actor with more work than one run hands over to the
  /// scheduler. Returns how many ran.
  size_t run_ready(int me, size_t max_jobs);

  /// Gives every waiting actor to the scheduler (at shutdown, after the
  /// I/O threads ended).
  void hand_over_all();

  /// Makes `id` I/O thread `me`, before that thread reads any record.
  void bind_thread(int me, std::thread::id id) noexcept { io_threads_[me] = id; }

  /// True on an I/O thread. Any thread.
  bool on_io_thread() const noexcept { return io_index() >= 0; }

  /// True if actors wait to run. Any thread.
  bool has_ready() const noexcept { return ready_count_.load(std::memory_order_relaxed) > 0; }

  /// I/O thread only: true while record handlers run on this thread, when
  /// the inbox must not be polled again (no nested poll).
  bool in_record_handler() const noexcept;

  /// Runs `poll()` (a poll of the inbox) with in_record_handler() true, if
  /// no other thread reads the inbox now; returns its result, or 0 when it
  /// did not run. An I/O thread or an actor on it.
  template <class Poll>
  size_t handle_records(Poll&& poll) {
    if (!token_.try_lock_inbox())
      return 0;
    set_in_record_handler(true);
    size_t result = poll();
    set_in_record_handler(false);
    token_.unlock_inbox();
    return result;
  }

private:
  /// The index of the calling I/O thread, -1 on other threads.
  int io_index() const noexcept {
    auto self = std::this_thread::get_id();
    return self == io_threads_[0] ? 0 : self == io_threads_[1] ? 1 : -1;
  }
  static void set_in_record_handler(bool value) noexcept;
  caf::resumable* pop() noexcept;

  consumer_token& token_;
  std::mutex ready_mtx_;
  std::deque<caf::resumable*> ready_; ///< bounded by the number of actors
  std::atomic<size_t> ready_count_{0};
  std::thread::id io_threads_[consumer_token::thread_count];
  size_t max_throughput_;
  bool inline_dispatch_;
};

} // namespace shmbus::bus
