// The execution unit of the bus's I/O thread. Deserializers need it to find
// the bus's proxy registry (handles inside messages become proxies). With
// inline dispatch, it also runs the actors that remote messages wake up,
// right on the I/O thread: the latency path then has no scheduler wake-up
// (40-90 us on the target VM), as in a networking event loop.
#pragma once

#include <cstddef>
#include <deque>
#include <thread>

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

  /// Marks the calling thread as the I/O thread.
  void bind_to_this_thread() noexcept { io_thread_ = std::this_thread::get_id(); }

  bool has_ready() const noexcept { return !ready_.empty(); }

private:
  std::deque<caf::resumable*> ready_;
  std::thread::id io_thread_;
  size_t max_throughput_;
  bool inline_dispatch_;
};

} // namespace shmbus::bus
