// Where records leave this process: straight into the destination's inbox
// on the sender's thread, and, when that inbox is full and the sender may
// not wait, a bounded queue per destination that the I/O thread retries.
//
// Who may wait for room: any thread but the I/O thread, up to
// full-inbox-timeout. The I/O thread never blocks on a full inbox (two I/O
// threads each waiting for the other to read would deadlock): inside a
// record handler it queues the record; an actor it runs (inline dispatch)
// waits while draining its own inbox. Once a destination has a queue, every
// record for it queues behind, so each sender's order holds. A queue fails
// as a whole once its destination accepted nothing for full-inbox-timeout:
// a record behind a long backlog that drains is not "stuck". The queues
// are bounded in bytes, per destination and in all (max-queued-bytes-per-
// peer, max-queued-bytes): past a bound a record fails at once with
// errc::inbox_full, which a request gets as its answer.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include <caf/actor_control_block.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/message_id.hpp>
#include <caf/timespan.hpp>

#include "shmbus/bus/bus_settings.hpp"
#include "shmbus/transport/node.hpp"

#include "io_execution_unit.hpp"
#include "once_log.hpp"
#include "peer_table.hpp"
#include "pending_requests.hpp"

namespace shmbus::bus {

class outbox {
public:
  /// What a held record costs beyond its bytes (its queue entry and buffer
  /// header), so that the byte bounds also bound many tiny records.
  static constexpr size_t record_overhead = 128;

  /// Largest number of records the I/O thread takes per poll.
  static constexpr size_t io_batch = 256;

  /// The I/O thread at a full inbox: tries with a yield between them, then
  /// naps this long between tries (see wait_for_room()).
  static constexpr int full_inbox_yields = 16;
  static constexpr std::chrono::microseconds full_inbox_nap{50};

  /// `inbox` handles what the I/O thread reads while it drains its own
  /// inbox to make room.
  outbox(caf::actor_system& sys, transport::node& transport,
         transport::inbox_handler& inbox, io_execution_unit& eu, peer_table& peers,
         pending_requests& pending, once_log& log, const bus_settings& settings);

  /// Told, outside any lock of the outbox, that a record send() queued
  /// failed after all: whoever counts the record's fate learns it there.
  using lost_hook = std::function<void(peer_ref to, const caf::error& why)>;

  /// Writes `bytes` into the inbox of `to`, waiting for room unless called
  /// on the I/O thread (see above). A record that later fails in the queue
  /// answers `mid` of `requester` with the error and calls `lost` (without
  /// one, a dropped record that is no request is logged). Any thread.
  /// @warning Blocks the caller for up to full-inbox-timeout while the
  ///          destination's inbox is full (not on the I/O thread).
  caf::error send(peer_ref to, const std::vector<char>& bytes,
                  const caf::strong_actor_ptr& requester = nullptr,
                  caf::message_id mid = caf::make_message_id(), const lost_hook& lost = {});

  /// Writes `bytes` into the inbox of `to` if it has room now and no
  /// record waits for it in a queue; errc::inbox_full otherwise, and then
  /// send() keeps the order. For fan-out: every destination with room
  /// first. Any thread; never blocks.
  caf::error try_send(peer_ref to, const std::vector<char>& bytes);

  /// Writes `bytes` without waiting (queued if the inbox is full). For
  /// records sent under CAF locks. Any thread; never blocks.
  void send_control(peer_ref to, const std::vector<char>& bytes);

  /// Retries the queued records, in order; fails them once their
  /// destination accepted none for full-inbox-timeout. I/O thread.
  void flush();

  /// True if records wait in a queue (the I/O thread then polls soon).
  bool has_queued() const noexcept {
    return queued_.load(std::memory_order_relaxed) > 0;
  }

  /// Drops the queue of `slot`, answering its requests with `why`. Any thread.
  void drop(uint32_t slot, const caf::error& why);

  /// drop() for every slot.
  void drop_all(const caf::error& why);

private:
  using clock = std::chrono::steady_clock;

  struct queued_record {
    peer_ref to;
    std::vector<char> bytes;
    caf::strong_actor_ptr requester; // answered with an error if dropped
    caf::message_id mid;
    lost_hook lost;
    size_t cost; // bytes + record_overhead, as counted in queued_bytes_
  };

  caf::error enqueue(peer_ref to, const std::vector<char>& bytes,
                     const caf::strong_actor_ptr& requester, caf::message_id mid,
                     const lost_hook& lost);
  /// Answers the request of `rec`, if any, and tells its hook; logs a
  /// record with neither unless its destination is gone (see drop()).
  void report_lost(queued_record& rec, const caf::error& why, bool destination_gone);
  /// Takes the front record of `slot`'s queue off the books. Holds mtx_.
  void pop_front(uint32_t slot);
  /// Handles what waits in this process's inbox; the records handled.
  size_t drain_own_inbox();
  /// The I/O thread's pause between two tries at a full inbox, after
  /// `idle_round` tries that found it full with nothing of its own to read.
  static void wait_for_room(int idle_round);
  /// The error of the records of a queue whose destination made no progress.
  caf::error stuck_error(uint32_t slot, size_t waiting) const;

  caf::actor_system& sys_;
  transport::node& transport_;
  transport::inbox_handler& inbox_;
  io_execution_unit& eu_;
  peer_table& peers_;
  pending_requests& pending_;
  once_log& log_;
  caf::timespan full_inbox_timeout_;
  size_t max_bytes_per_peer_;
  size_t max_bytes_;

  std::mutex mtx_;
  std::vector<std::deque<queued_record>> queues_;
  /// Per slot and in all: bytes held, each record with record_overhead.
  std::vector<size_t> queued_bytes_;
  size_t total_bytes_ = 0;
  /// Per slot: when its queue last made progress (started, or a record of
  /// it was written).
  std::vector<clock::time_point> progress_;
  /// Per slot: its queue is not empty; read lock-free on every send.
  std::unique_ptr<std::atomic<bool>[]> has_queue_;
  std::atomic<size_t> queued_{0};
};

} // namespace shmbus::bus
