#include "io_execution_unit.hpp"

#include <caf/actor_system.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

namespace shmbus::bus {

io_execution_unit::io_execution_unit(caf::actor_system& sys,
                                     caf::proxy_registry& proxies,
                                     bool inline_dispatch)
  : caf::execution_unit(&sys),
    max_throughput_(sys.scheduler().max_throughput()),
    inline_dispatch_(inline_dispatch) {
  proxy_registry_ptr(&proxies);
}

void io_execution_unit::exec_later(caf::resumable* job) {
  // The job arrives with a reference for us (scheduled_actor::enqueue).
  if (inline_dispatch_ && on_io_thread())
    ready_.push_back(job);
  else
    system().scheduler().enqueue(job);
}

size_t io_execution_unit::run_ready(size_t max_jobs) {
  size_t ran = 0;
  while (!ready_.empty() && ran < max_jobs) {
    auto* job = ready_.front();
    ready_.pop_front();
    ++ran;
    // Same bookkeeping as CAF's worker loop (scheduler/worker.hpp).
    switch (job->resume(this, max_throughput_)) {
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
  while (!ready_.empty()) {
    system().scheduler().enqueue(ready_.front());
    ready_.pop_front();
  }
}

} // namespace shmbus::bus
