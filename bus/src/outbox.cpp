#include "outbox.hpp"

#include <thread>

#include <caf/actor_system.hpp>

#include "error_mapping.hpp"
#include "shmbus/bus/errc.hpp"

namespace shmbus::bus {

outbox::outbox(caf::actor_system& sys, transport::node& transport,
               transport::inbox_handler& inbox, io_execution_unit& eu, peer_table& peers,
               pending_requests& pending, once_log& log, const bus_settings& settings)
  : sys_(sys),
    transport_(transport),
    inbox_(inbox),
    eu_(eu),
    peers_(peers),
    pending_(pending),
    log_(log),
    full_inbox_timeout_(settings.full_inbox_timeout),
    max_bytes_per_peer_(settings.max_queued_bytes_per_peer),
    max_bytes_(settings.max_queued_bytes),
    queues_(transport.limits().node_slots),
    queued_bytes_(transport.limits().node_slots, 0),
    progress_(transport.limits().node_slots),
    has_queue_(new std::atomic<bool>[transport.limits().node_slots]) {
  for (size_t i = 0; i < queues_.size(); ++i)
    has_queue_[i].store(false, std::memory_order_relaxed);
}

caf::error outbox::send(peer_ref to, const std::vector<char>& bytes,
                        const caf::strong_actor_ptr& requester, caf::message_id mid,
                        const lost_hook& lost) {
  // Pairs with the release stores in enqueue() and flush().
  if (has_queue_[to.slot].load(std::memory_order_acquire))
    return enqueue(to, bytes, requester, mid, lost);
  auto io = eu_.on_io_thread();
  auto err = transport_.send(to.slot, to.incarnation, bytes.data(), bytes.size(),
                             io ? std::chrono::nanoseconds::zero()
                                : transport::node::default_wait);
  if (!err)
    return caf::error{};
  if (err.code != transport::errc::inbox_full || !io)
    return from_transport(err);
  if (eu_.in_record_handler())
    return enqueue(to, bytes, requester, mid, lost); // no nested poll
  // An actor running on the I/O thread meets a full inbox. Waiting here
  // while draining our own inbox keeps backpressure without the deadlock of
  // two I/O threads each waiting for the other to read.
  auto until = clock::now() + full_inbox_timeout_;
  int idle_rounds = 0;
  do {
    if (drain_own_inbox() > 0)
      idle_rounds = 0;
    else
      wait_for_room(idle_rounds++);
    err = transport_.send(to.slot, to.incarnation, bytes.data(), bytes.size(),
                          std::chrono::nanoseconds::zero());
  } while (err.code == transport::errc::inbox_full
           && clock::now() < until);
  return err ? from_transport(err) : caf::error{};
}

caf::error outbox::try_send(peer_ref to, const std::vector<char>& bytes) {
  // Pairs with the release stores in enqueue() and flush().
  if (has_queue_[to.slot].load(std::memory_order_acquire))
    return make_error(errc::inbox_full);
  auto err = transport_.send(to.slot, to.incarnation, bytes.data(), bytes.size(),
                             std::chrono::nanoseconds::zero());
  return err ? from_transport(err) : caf::error{};
}

void outbox::send_control(peer_ref to, const std::vector<char>& bytes) {
  caf::error err;
  if (has_queue_[to.slot].load(std::memory_order_acquire)) {
    err = enqueue(to, bytes, nullptr, caf::make_message_id(), {});
  } else {
    auto sent = transport_.send(to.slot, to.incarnation, bytes.data(), bytes.size(),
                                std::chrono::nanoseconds::zero());
    if (sent.code == transport::errc::inbox_full)
      err = enqueue(to, bytes, nullptr, caf::make_message_id(), {});
    else if (sent)
      err = from_transport(sent);
  }
  // peer_lost is the peer's loss, reported on its own; anything else is not.
  if (err && err != errc::peer_lost)
    log_.write("control/" + std::to_string(to.slot),
               "a control record for node '" + peers_.name_of(to.slot)
                 + "' was dropped: " + sys_.render(err));
}

caf::error outbox::enqueue(peer_ref to, const std::vector<char>& bytes,
                           const caf::strong_actor_ptr& requester, caf::message_id mid,
                           const lost_hook& lost) {
  {
    std::lock_guard<std::mutex> guard(mtx_);
    auto& queue = queues_[to.slot];
    auto cost = bytes.size() + record_overhead;
    if (queued_bytes_[to.slot] + cost > max_bytes_per_peer_)
      return make_error(errc::inbox_full,
                        "the inbox of node '" + peers_.name_of(to.slot) + "' is full and "
                          + std::to_string(queued_bytes_[to.slot])
                          + " bytes of records wait for it already "
                            "(shmbus.max-queued-bytes-per-peer="
                          + std::to_string(max_bytes_per_peer_)
                          + "): its consumer is not keeping up");
    if (total_bytes_ + cost > max_bytes_)
      return make_error(errc::inbox_full,
                        "the inbox of node '" + peers_.name_of(to.slot)
                          + "' is full and records held for full inboxes take "
                          + std::to_string(total_bytes_)
                          + " bytes already (shmbus.max-queued-bytes="
                          + std::to_string(max_bytes_) + ")");
    if (queue.empty())
      progress_[to.slot] = clock::now();
    queue.push_back({to, bytes, requester, mid, lost, cost});
    queued_bytes_[to.slot] += cost;
    total_bytes_ += cost;
    has_queue_[to.slot].store(true, std::memory_order_release);
    queued_.fetch_add(1, std::memory_order_relaxed);
  }
  // Nobody wakes the I/O thread when that inbox drains: it must look.
  transport_.wake();
  return caf::error{};
}

caf::error outbox::stuck_error(uint32_t slot, size_t waiting) const {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(full_inbox_timeout_).count();
  return make_error(errc::inbox_full, "the inbox of node '" + peers_.name_of(slot)
                                        + "' accepted no record for " + std::to_string(ms)
                                        + " ms (shmbus.full-inbox-timeout) while "
                                        + std::to_string(waiting)
                                        + " waited for it: its consumer is not keeping up");
}

size_t outbox::drain_own_inbox() {
  return eu_.handle_records([this] { return transport_.poll(inbox_, io_batch); });
}

void outbox::wait_for_room(int idle_round) {
  // A full inbox that stays full has a slower reader: yielding in a loop
  // would burn this core for as long (stream benchmark: ~1 us of CPU per
  // message sent, half of both sides' cost). A nap costs the reader
  // nothing (a futex wait for room would cost it a wake per record it
  // frees) and a full ring holds far more than it drains in one nap.
  if (idle_round < full_inbox_yields)
    std::this_thread::yield();
  else
    std::this_thread::sleep_for(full_inbox_nap);
}

void outbox::flush() {
  if (!has_queued())
    return;
  auto now = clock::now();
  for (uint32_t slot = 0; slot < queues_.size(); ++slot) {
    if (!has_queue_[slot].load(std::memory_order_acquire))
      continue;
    std::vector<queued_record> failed;
    caf::error failure;
    {
      std::lock_guard<std::mutex> guard(mtx_);
      auto& queue = queues_[slot];
      while (!queue.empty()) {
        auto& rec = queue.front();
        auto err = transport_.send(rec.to.slot, rec.to.incarnation, rec.bytes.data(),
                                   rec.bytes.size(), std::chrono::nanoseconds::zero());
        if (!err) {
          progress_[slot] = now;
        } else if (err.code != transport::errc::inbox_full) {
          failure = from_transport(err);
          failed.push_back(std::move(rec));
        } else if (now - progress_[slot] < full_inbox_timeout_) {
          break; // still full: keep the order, retry next round
        } else {
          failure = stuck_error(slot, queue.size());
          failed.push_back(std::move(rec));
        }
        pop_front(slot);
      }
      if (queue.empty())
        has_queue_[slot].store(false, std::memory_order_release);
    }
    for (auto& rec : failed)
      report_lost(rec, failure, false);
  }
}

void outbox::report_lost(queued_record& rec, const caf::error& why, bool destination_gone) {
  bool request = rec.requester && rec.mid.is_request();
  // Counted before answered: a requester that sees the error sees it counted.
  if (rec.lost)
    rec.lost(rec.to, why);
  // When the destination is gone (lost, or this node stops), its pending
  // requests are failed on their own: answer only what nobody else will.
  // Otherwise a request the peer never saw is ours to answer.
  if (request && (pending_.take(rec.requester->id(), rec.mid) || !destination_gone))
    answer_with_error(rec.requester, rec.mid, why);
  if (!rec.lost && !request && !destination_gone)
    log_.write("queued/" + std::to_string(rec.to.slot),
               "records for node '" + peers_.name_of(rec.to.slot)
                 + "' were dropped: " + sys_.render(why));
}

void outbox::pop_front(uint32_t slot) {
  auto& queue = queues_[slot];
  auto cost = queue.front().cost;
  queue.pop_front();
  queued_bytes_[slot] -= cost;
  total_bytes_ -= cost;
  queued_.fetch_sub(1, std::memory_order_relaxed);
}

void outbox::drop(uint32_t slot, const caf::error& why) {
  std::deque<queued_record> dropped;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    dropped.swap(queues_[slot]);
    has_queue_[slot].store(false, std::memory_order_release);
    queued_.fetch_sub(dropped.size(), std::memory_order_relaxed);
    total_bytes_ -= queued_bytes_[slot];
    queued_bytes_[slot] = 0;
  }
  // Records to a lost peer go the way of messages to a dead actor: only
  // their requests are answered, and their hooks told.
  for (auto& rec : dropped)
    report_lost(rec, why, true);
}

void outbox::drop_all(const caf::error& why) {
  for (uint32_t slot = 0; slot < queues_.size(); ++slot)
    drop(slot, why);
}

} // namespace shmbus::bus
