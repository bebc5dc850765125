// The execution unit of the bus's I/O thread. Deserializers need it to find
// the bus's proxy registry (handles inside messages become proxies). With
// inline dispatch, it also runs the actors that remote messages wake up,
// right on the I/O thread: the latency path then has no scheduler wake-up
// (40-90 us on the target VM), as in a networking event loop.
#pragma once

#include <cstddef>
#include <deque>
#include <thread>
#include <utility>

#include <caf/execution_unit.hpp>
#include <caf/resumable.hpp>

namespace shmbus::bus {

class io_execution_unit : public caf::execution_unit {
public:
  io_execution_unit(caf::actor_system& sys, caf::proxy_registry& proxies,
                    bool inline_dispatch);

  /// Called by CAF when an actor woken with this unit as context must run.
  void exec_later(caf::resumable* job) override;

  /// Runs up to `max_jobs` woken actors on this (the I/O) thread; an actor
  /// with more work than one run hands over to the scheduler. Returns how
  /// many ran.
  size_t run_ready(size_t max_jobs);

  /// Gives every waiting actor to the scheduler (at shutdown).
  void hand_over_all();

  /// Marks the calling thread as the I/O thread (before any record).
  void bind_to_this_thread() noexcept { io_thread_ = std::this_thread::get_id(); }

  /// True on the I/O thread. Any thread.
  bool on_io_thread() const noexcept { return std::this_thread::get_id() == io_thread_; }

  bool has_ready() const noexcept { return !ready_.empty(); }

  /// I/O thread only: true while record handlers run, when the inbox must
  /// not be polled again (no nested poll).
  bool in_record_handler() const noexcept { return in_record_handler_; }

  /// Runs `poll()` (a poll of the inbox) with in_record_handler() true.
  template <class Poll>
  auto handle_records(Poll&& poll) {
    in_record_handler_ = true;
    auto result = poll();
    in_record_handler_ = false;
    return result;
  }

private:
  std::deque<caf::resumable*> ready_;
  std::thread::id io_thread_;
  bool in_record_handler_ = false;
  size_t max_throughput_;
  bool inline_dispatch_;
};

} // namespace shmbus::bus
