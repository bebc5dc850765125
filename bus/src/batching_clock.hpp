// CAF's actor clock (timeouts, delayed messages) with fewer wake-ups of its
// thread.
//
// CAF 0.17.6's clock wakes its thread for every event it is given, and every
// request with a timeout gives it one (CAF never cancels it: the answered
// request's timeout fires later and is ignored). On a core that the bus's
// I/O thread shares, that is two context switches per request: measured
// with shmbus-bench's request round trip of 4 KiB between two processes
// pinned to one core each, 12.5 us with a 5 s timeout against 6.4 us with
// none.
//
// This clock wakes its thread only for an event that must be handled before
// the thread wakes anyway: a timeout or delayed message due earlier than
// that, cancel_all, the end. Every other event (a timeout due later, a
// cancellation) waits in a batch that the thread applies, in order, before
// it fires any timeout: no timeout fires late, and none fires that a
// cancellation given before it was due had cancelled. A batch is bounded:
// max_batch events, or max_linger after its first event, whichever comes
// first, so that the timeouts of an actor that ended release it soon.
//
// Because a cancellation costs no wake-up here, the bus cancels the timeout
// of every answer it carries (inbound_records), which CAF would leave
// scheduled until it fires.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <vector>

#include <caf/detail/thread_safe_actor_clock.hpp>

namespace shmbus::bus {

// Derives from CAF's thread-safe clock only because the coordinator's
// clock() returns that type; none of its state is used.
class batching_clock final : public caf::detail::thread_safe_actor_clock {
public:
  static constexpr size_t max_batch = 1024;
  static constexpr std::chrono::milliseconds max_linger{50};

  void set_ordinary_timeout(time_point t, caf::abstract_actor* self, caf::atom_value type,
                            uint64_t id) override;
  void set_request_timeout(time_point t, caf::abstract_actor* self, caf::message_id id) override;
  void set_multi_timeout(time_point t, caf::abstract_actor* self, caf::atom_value type,
                         uint64_t id) override;
  void cancel_ordinary_timeout(caf::abstract_actor* self, caf::atom_value type) override;
  void cancel_request_timeout(caf::abstract_actor* self, caf::message_id id) override;
  void cancel_timeouts(caf::abstract_actor* self) override;
  void schedule_message(time_point t, caf::strong_actor_ptr receiver,
                        caf::mailbox_element_ptr content) override;
  void schedule_message(time_point t, caf::group target, caf::strong_actor_ptr sender,
                        caf::message content) override;
  void cancel_all() override;

  /// The clock's thread: applies events and fires what is due until stop().
  void run();

  /// Ends run(), dropping what is scheduled. Any thread.
  void stop();

  /// Timeouts and delayed messages scheduled after the thread's last batch
  /// (events still pending not counted). Any thread.
  size_t scheduled() const noexcept { return scheduled_.load(std::memory_order_relaxed); }

private:
  /// Queues `ptr`, which the thread must see by `due` (time_point::min():
  /// at once; time_point::max(): within max_linger).
  void push(event* ptr, time_point due);

  /// When the thread must look at pending_. Holds mtx_.
  time_point pending_deadline() const;

  /// Applies one event to the schedule; false for the end.
  bool apply(unique_event_ptr& x);

  std::mutex mtx_;
  std::condition_variable cv_;
  /// Events not applied yet, in the order given; their earliest due, and
  /// when the first of them came.
  std::vector<unique_event_ptr> pending_;
  time_point pending_due_ = time_point::max();
  time_point pending_since_;
  /// The thread sleeps (and was not told to wake), until wake_at_.
  bool sleeping_ = false;
  time_point wake_at_ = time_point::max();
  std::atomic<size_t> scheduled_{0};
};

} // namespace shmbus::bus
