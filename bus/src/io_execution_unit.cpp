#include "io_execution_unit.hpp"

#include <caf/actor_system.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

namespace shmbus::bus {

namespace {

/// Per thread: an I/O thread belongs to one bus, and a record handler runs
/// on the thread that polled.
thread_local bool in_record_handler_flag = false;

} // namespace

io_execution_unit::io_execution_unit(caf::actor_system& sys,
                                     caf::proxy_registry& proxies,
                                     consumer_token& token, bool inline_dispatch)
  : caf::execution_unit(&sys),
    token_(token),
    max_throughput_(sys.scheduler().max_throughput()),
    inline_dispatch_(inline_dispatch) {
  proxy_registry_ptr(&proxies);
}

bool io_execution_unit::in_record_handler() const noexcept {
  return in_record_handler_flag;
}

void io_execution_unit::set_in_record_handler(bool value) noexcept {
  in_record_handler_flag = value;
}

void io_execution_unit::exec_later(caf::resumable* job) {
  // The job arrives with a reference for us (scheduled_actor::enqueue).
  // The consumer queues it for whichever I/O thread consumes next; so does
  // a thread reading records that lost the token meanwhile (the standby took
  // over during its poll: bus_core::io_loop wakes the new consumer). An I/O
  // thread stuck in an actor leaves what that actor wakes to the scheduler.
  auto me = io_index();
  if (inline_dispatch_ && me >= 0 && (token_.is_consumer(me) || in_record_handler_flag)) {
    std::lock_guard<std::mutex> guard(ready_mtx_);
    ready_.push_back(job);
    ready_count_.store(ready_.size(), std::memory_order_relaxed);
  } else {
    system().scheduler().enqueue(job);
  }
}

caf::resumable* io_execution_unit::pop() noexcept {
  std::lock_guard<std::mutex> guard(ready_mtx_);
  if (ready_.empty())
    return nullptr;
  auto* job = ready_.front();
  ready_.pop_front();
  ready_count_.store(ready_.size(), std::memory_order_relaxed);
  return job;
}

size_t io_execution_unit::run_ready(int me, size_t max_jobs) {
  size_t ran = 0;
  int64_t batch_start = 0;
  while (ran < max_jobs && token_.is_consumer(me)) {
    auto* job = has_ready() ? pop() : nullptr;
    if (job == nullptr)
      break;
    ++ran;
    // Same bookkeeping as CAF's worker loop (scheduler/worker.hpp). The
    // standby takes over if this run outlasts the inline budget; a batch of
    // short runs ends after the budget too, so that the inbox is polled
    // (and the consumer heartbeat stamped) between them.
    auto started = token_.enter_actor(me);
    if (batch_start == 0)
      batch_start = started;
    else if (started - batch_start >= token_.budget_ns())
      max_jobs = ran;
    auto outcome = job->resume(this, max_throughput_);
    token_.leave_actor(me);
    switch (outcome) {
      case caf::resumable::resume_later:
        // More than one run's worth of messages: not the I/O thread's job.
        system().scheduler().enqueue(job);
        break;
      case caf::resumable::done:
      case caf::resumable::awaiting_message:
        intrusive_ptr_release(job);
        break;
      case caf::resumable::shutdown_execution_unit:
        break;
    }
  }
  return ran;
}

void io_execution_unit::hand_over_all() {
  while (auto* job = pop())
    system().scheduler().enqueue(job);
}

} // namespace shmbus::bus
