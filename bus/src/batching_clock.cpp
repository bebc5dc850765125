#include "batching_clock.hpp"

#include <algorithm>

namespace shmbus::bus {

void batching_clock::set_ordinary_timeout(time_point t, caf::abstract_actor* self,
                                          caf::atom_value type, uint64_t id) {
  push(new ordinary_timeout(t, self->ctrl(), type, id), t);
}

void batching_clock::set_request_timeout(time_point t, caf::abstract_actor* self,
                                         caf::message_id id) {
  push(new request_timeout(t, self->ctrl(), id), t);
}

void batching_clock::set_multi_timeout(time_point t, caf::abstract_actor* self,
                                       caf::atom_value type, uint64_t id) {
  push(new multi_timeout(t, self->ctrl(), type, id), t);
}

void batching_clock::cancel_ordinary_timeout(caf::abstract_actor* self, caf::atom_value type) {
  push(new ordinary_timeout_cancellation(self->id(), type), time_point::max());
}

void batching_clock::cancel_request_timeout(caf::abstract_actor* self, caf::message_id id) {
  push(new request_timeout_cancellation(self->id(), id), time_point::max());
}

void batching_clock::cancel_timeouts(caf::abstract_actor* self) {
  push(new timeouts_cancellation(self->id()), time_point::max());
}

void batching_clock::schedule_message(time_point t, caf::strong_actor_ptr receiver,
                                      caf::mailbox_element_ptr content) {
  push(new actor_msg(t, std::move(receiver), std::move(content)), t);
}

void batching_clock::schedule_message(time_point t, caf::group target,
                                      caf::strong_actor_ptr sender, caf::message content) {
  push(new group_msg(t, std::move(target), std::move(sender), std::move(content)), t);
}

void batching_clock::cancel_all() {
  push(new drop_all, time_point::min());
}

void batching_clock::stop() {
  push(new shutdown, time_point::min());
}

void batching_clock::push(event* ptr, time_point due) {
  unique_event_ptr x{ptr};
  std::lock_guard<std::mutex> guard{mtx_};
  if (pending_.empty())
    pending_since_ = now();
  pending_.push_back(std::move(x));
  pending_due_ = std::min(pending_due_, due);
  // An awake thread sees pending_ before it sleeps; a sleeping one is woken
  // only if it would otherwise look too late. It then plans again: the
  // first event of a batch moves its wake-up to max_linger at the latest.
  if (sleeping_ && (pending_deadline() < wake_at_ || pending_.size() >= max_batch)) {
    sleeping_ = false;
    cv_.notify_one();
  }
}

batching_clock::time_point batching_clock::pending_deadline() const {
  if (pending_.empty())
    return time_point::max();
  return std::min(pending_due_, pending_since_ + max_linger);
}

void batching_clock::run() {
  std::vector<unique_event_ptr> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> guard{mtx_};
      while (pending_.size() < max_batch) {
        auto until = std::min(schedule_.empty() ? time_point::max() : schedule_.begin()->first,
                              pending_deadline());
        if (until <= now())
          break;
        wake_at_ = until;
        sleeping_ = true;
        if (until == time_point::max())
          cv_.wait(guard);
        else
          cv_.wait_until(guard, until);
        sleeping_ = false;
      }
      batch.swap(pending_);
      pending_due_ = time_point::max();
    }
    for (auto& x : batch)
      if (!apply(x))
        return;
    batch.clear();
    trigger_expired_timeouts();
    scheduled_.store(schedule_.size(), std::memory_order_relaxed);
  }
}

bool batching_clock::apply(unique_event_ptr& x) {
  switch (x->subtype) {
    case ordinary_timeout_cancellation_type:
      handle(static_cast<const ordinary_timeout_cancellation&>(*x));
      break;
    case request_timeout_cancellation_type:
      handle(static_cast<const request_timeout_cancellation&>(*x));
      break;
    case timeouts_cancellation_type:
      handle(static_cast<const timeouts_cancellation&>(*x));
      break;
    case drop_all_type:
      schedule_.clear();
      actor_lookup_.clear();
      break;
    case shutdown_type:
      schedule_.clear();
      actor_lookup_.clear();
      return false;
    case ordinary_timeout_type:
      add_schedule_entry(std::unique_ptr<ordinary_timeout>{
        static_cast<ordinary_timeout*>(x.release())});
      break;
    case multi_timeout_type:
      add_schedule_entry(std::unique_ptr<multi_timeout>{static_cast<multi_timeout*>(x.release())});
      break;
    case request_timeout_type:
      add_schedule_entry(std::unique_ptr<request_timeout>{
        static_cast<request_timeout*>(x.release())});
      break;
    case actor_msg_type:
      add_schedule_entry(std::unique_ptr<actor_msg>{static_cast<actor_msg*>(x.release())});
      break;
    case group_msg_type:
      add_schedule_entry(std::unique_ptr<group_msg>{static_cast<group_msg*>(x.release())});
      break;
    default:
      // CAF's clock makes no other event (multi_timeout_cancellation is
      // never pushed in 0.17.6).
      break;
  }
  x.reset();
  return true;
}

} // namespace shmbus::bus
