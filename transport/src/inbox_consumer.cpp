#include "shmbus/transport/inbox_consumer.hpp"

#include <algorithm>

#include <sched.h>

#include "liveness_watcher.hpp"
#include "process_info.hpp"

namespace shmbus::transport {

namespace {

using clock = std::chrono::steady_clock;

/// Idle polls between two reads of the clock: reading it costs more than
/// a poll of an empty inbox.
constexpr int polls_per_clock_read = 64;

/// The adaptive strategy's yield phase (see idle()): a sched_yield() that
/// returns within this let no other thread run (~0.5 us alone on the target
/// VM, ~3 us when another thread runs in between)...
constexpr std::chrono::nanoseconds contested_yield = std::chrono::microseconds{1};
/// ...and then the consumer busy-polls this long before it yields again:
/// the most a thread woken onto this core meanwhile waits, unless the
/// kernel lets it preempt.
constexpr std::chrono::nanoseconds uncontested_spin = std::chrono::microseconds{4};

/// Busy polls (each up to a batch of records) between two looks at the
/// clock for the next audit.
constexpr int busy_polls_per_audit_check = 64;

/// Counters only the consumer thread writes: no locked instruction needed.
inline void bump_single_writer(std::atomic<uint64_t>& counter, uint64_t n) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

} // namespace

void inbox_consumer::attach(const segment& seg, uint32_t own_slot,
                            uint32_t own_incarnation, const idle_strategy& idle,
                            liveness_watcher* watcher, std::string where) {
  seg_ = &seg;
  self_ = &seg.slot(own_slot);
  ring_ = seg.ring(own_slot);
  slot_ = own_slot;
  incarnation_ = own_incarnation;
  idle_ = idle;
  max_park_ = std::min<std::chrono::nanoseconds>(defaults::max_park,
                                                 seg.timing().heartbeat_interval);
  watcher_ = watcher;
  where_ = std::move(where);
  audit_interval_ = seg.timing().heartbeat_interval;
  // Twice the timeout: a hung producer is declared lost (and its claim
  // skipped as a dead producer's) before its claim counts as garbage; one
  // timeout for a claim that looks committed already (claim_too_old).
  max_claim_age_ = 2 * seg.timing().heartbeat_timeout;
  // The head only moves by this consumer, so it is where the slot's previous
  // owner stopped reading.
  reader_ = inbox_reader(ring_, seg.limits().max_message_bytes, seg.node_slots());
  known_.assign(seg.node_slots(), known_peer{});
  next_audit_ = clock::now() + audit_interval_;
}

void inbox_consumer::rejoin(uint32_t incarnation, liveness_watcher* watcher) noexcept {
  incarnation_ = incarnation;
  watcher_ = watcher;
}

// -- the consumer heartbeat ------------------------------------------------------

void inbox_consumer::stamp() noexcept {
  // The coarse clock costs a few ns and moves once per scheduler tick, so
  // the shared word (a line that peers read) is written at most once a tick.
  auto now = detail::coarse_monotonic_ns();
  if (now != last_round_.load(std::memory_order_relaxed)) {
    self_->heartbeat_ns.store(now, std::memory_order_relaxed);
    last_round_.store(now, std::memory_order_release);
  }
  auto tid = detail::current_tid();
  if (tid != tid_.load(std::memory_order_relaxed)) {
    tid_.store(tid, std::memory_order_relaxed);
    self_->consumer_tid.store(tid, std::memory_order_relaxed);
  }
}

// -- events from the liveness thread -------------------------------------------

void inbox_consumer::post(inbox_event e) {
  if (e.type == inbox_event::kind::lost)
    e.drain_to = ring_.control()->tail.load(std::memory_order_acquire);
  {
    std::lock_guard<std::mutex> guard(events_mutex_);
    events_.push_back(e);
  }
  events_pending_.store(true, std::memory_order_release);
  wake();
}

void inbox_consumer::wake() noexcept {
  ring_.wake_consumer();
}

size_t inbox_consumer::deliver_events(inbox_handler& handler) {
  if (!events_pending_.load(std::memory_order_acquire))
    return 0;
  std::vector<inbox_event> ready;
  {
    std::lock_guard<std::mutex> guard(events_mutex_);
    size_t n = 0;
    // In order; a loss waits until our head passed its drain position.
    while (n < events_.size()
           && !(events_[n].type == inbox_event::kind::lost
                && reader_.head() < events_[n].drain_to))
      ++n;
    ready.assign(events_.begin(), events_.begin() + static_cast<ptrdiff_t>(n));
    events_.erase(events_.begin(), events_.begin() + static_cast<ptrdiff_t>(n));
    events_pending_.store(!events_.empty(), std::memory_order_release);
  }
  for (auto& e : ready) {
    switch (e.type) {
      case inbox_event::kind::joined:
        // The liveness thread saw the kernel hold this incarnation's lock
        // (the state word may say otherwise): announced even if it died
        // since, its loss follows.
        announce(e.slot, e.incarnation, handler);
        break;
      case inbox_event::kind::lost:
        report_loss(e.slot, e.incarnation, e.cause, e.detail, handler);
        break;
      case inbox_event::kind::problem:
        handler.on_error(e.problem);
        break;
    }
  }
  return ready.size();
}

// -- what the handler learns about peers -----------------------------------------

void inbox_consumer::announce(uint32_t slot, uint32_t incarnation,
                              inbox_handler& handler) {
  auto& k = known_[slot];
  if (k.incarnation == incarnation)
    return; // announced already (and maybe lost since)
  if (k.alive) // an older incarnation we never saw go
    report_loss(slot, k.incarnation, loss_cause::vanished, 0, handler);
  k.incarnation = incarnation;
  k.alive = true;
  k.info = read_peer_info(seg_->slot(slot), slot, incarnation);
  if (slot != slot_ && watcher_)
    watcher_->watch(slot, incarnation);
  handler.on_peer_joined(k.info);
}

void inbox_consumer::report_loss(uint32_t slot, uint32_t incarnation,
                                 loss_cause cause, int32_t detail,
                                 inbox_handler& handler) {
  auto& k = known_[slot];
  if (slot == slot_ && (cause == loss_cause::evicted || cause == loss_cause::stalled)) {
    handler.on_peer_lost(
      peer_loss{read_peer_info(*self_, slot, incarnation), cause, detail});
    return;
  }
  if (!k.alive || k.incarnation != incarnation)
    return; // never announced, or reported already
  k.alive = false;
  handler.on_peer_lost(peer_loss{k.info, cause, detail});
}

// -- records ----------------------------------------------------------------------

bool inbox_consumer::producer_gone(uint32_t slot,
                                   uint32_t incarnation_bits) const noexcept {
  auto word = seg_->slot(slot).state.load(std::memory_order_acquire);
  if ((incarnation_of(word) & record::incarnation_mask) != incarnation_bits)
    return true; // the slot passed to a new process: the claimant is dead
  return state_of(word) == node_state::dead;
}

bool inbox_consumer::claim_too_old(const inbox_reader::entry& e) noexcept {
  auto now = clock::now();
  if (e.position != pending_position_) {
    pending_position_ = e.position;
    pending_since_ = now;
    pending_looks_committed_ = reader_.pending_looks_committed();
    return false;
  }
  // A claim that already carries a committed record's stamp and checksum
  // is a damaged record, unless its producer commits within nanoseconds.
  auto limit = pending_looks_committed_ ? max_claim_age_ / 2 : max_claim_age_;
  return now - pending_since_ > limit;
}

bool inbox_consumer::handle_record(const inbox_reader::entry& e,
                                   inbox_handler& handler) {
  if (!e.intact) {
    bump_single_writer(self_->checksum_failures, 1);
    report(handler, "a record at position " + std::to_string(e.position) + " ("
                      + std::to_string(e.payload_bytes) + " bytes, from slot "
                      + std::to_string(e.sender_slot)
                      + ") fails its checksum: some process wrote into it");
  }
  auto& k = known_[e.sender_slot];
  bool known = k.alive
               && (k.incarnation & record::incarnation_mask) == e.sender_incarnation_bits;
  if (!known && e.intact) {
    // First record of this incarnation: announce it if it is the one the
    // table holds now; a record of an incarnation we never knew and that is
    // gone already cannot be attributed.
    auto word = seg_->slot(e.sender_slot).state.load(std::memory_order_acquire);
    auto incarnation = incarnation_of(word);
    bool current = (incarnation & record::incarnation_mask) == e.sender_incarnation_bits;
    bool fresh = !(k.incarnation == incarnation && !k.alive);
    if (current && fresh && state_of(word) != node_state::free
        && state_of(word) != node_state::joining) {
      announce(e.sender_slot, incarnation, handler);
      known = true;
    }
  }
  if (!known || (e.kind == record_kind::data && e.destination_incarnation != incarnation_)) {
    bump_single_writer(self_->stale_dropped, 1);
    return false;
  }
  if (e.kind == record_kind::control) {
    // A damaged goodbye is not acted upon: the liveness thread sees the
    // peer go anyway.
    if (e.intact && e.payload_bytes >= 1
        && static_cast<uint8_t>(e.payload[0])
             == static_cast<uint8_t>(record::control_type::leaving))
      report_loss(e.sender_slot, k.incarnation, loss_cause::left, 0, handler);
    return true;
  }
  bump_single_writer(self_->msgs_in, 1);
  bump_single_writer(self_->bytes_in, e.payload_bytes);
  handler.on_message(
    message_view{e.sender_slot, k.incarnation, e.payload, e.payload_bytes, e.intact});
  return true;
}

void inbox_consumer::report(inbox_handler& handler, const std::string& what) {
  handler.on_error(make_error(errc::corrupt_record, "inbox of " + where_ + ": " + what));
}

void inbox_consumer::report_corruption(const inbox_reader::entry& e,
                                       uint64_t skipped, inbox_handler& handler) {
  bump_single_writer(self_->corrupt_records, 1);
  bump_single_writer(self_->bytes_lost, skipped);
  auto whole = skipped >= ring_.capacity();
  report(handler, "corrupt record at position " + std::to_string(e.position) + ": "
                    + e.problem + "; "
                    + (whole ? "the whole ring was garbage: reset it, "
                             : "skipped to the next valid record, ")
                    + std::to_string(skipped) + " bytes lost");
}

void inbox_consumer::audit(inbox_handler& handler, bool drained) {
  if (!drained && ++polls_since_audit_check_ < busy_polls_per_audit_check)
    return;
  polls_since_audit_check_ = 0;
  auto now = clock::now();
  if (now < next_audit_)
    return;
  next_audit_ = now + audit_interval_;
  auto found = reader_.audit();
  if (!found.any())
    return;
  bump_single_writer(self_->ring_repairs, 1);
  std::string what;
  if (found.head_restored)
    what += "its published head was overwritten; ";
  if (found.head_cache_restored)
    what += "its head cache ran ahead of the head; ";
  if (found.tail_restored)
    what += "its tail " + std::to_string(found.bad_tail)
            + " was impossible (misaligned, beyond the records or inside one), now "
            + std::to_string(found.tail) + "; ";
  if (found.hole_skipped > 0)
    what += "a hole of " + std::to_string(found.hole_skipped)
            + " free bytes before records (the tail had been moved forward) was skipped; ";
  report(handler, "repaired control words that no honest process writes: " + what
                    + "nothing was lost");
}

size_t inbox_consumer::poll(inbox_handler& handler, size_t max_records) noexcept {
  stamp();
  size_t handed = deliver_events(handler);
  size_t records = 0;
  bool drained = false;
  // Every step consumes or skips something, so a ring of garbage is worked
  // off over several polls, never in one unbounded loop.
  for (size_t steps = 0; steps < max_records; ++steps) {
    auto e = reader_.peek();
    if (e.state == inbox_reader::status::empty) {
      drained = true;
      break;
    }
    if (e.state == inbox_reader::status::pending) {
      bool gone = producer_gone(e.sender_slot, e.sender_incarnation_bits);
      bool stale = !gone && claim_too_old(e);
      // A dead producer's claim that looks committed was a record whose
      // header got damaged (its slot or kind): a loss to report.
      bool damaged = gone && reader_.pending_looks_committed();
      if ((!gone && !stale) || !reader_.skip_pending()) {
        drained = true;
        break;
      }
      if (gone && !damaged) {
        bump_single_writer(self_->skipped_claims, 1);
      } else {
        bump_single_writer(self_->corrupt_records, 1);
        bump_single_writer(self_->bytes_lost, record::length_of(e.raw_header));
        report(handler, "a claim at position " + std::to_string(e.position) + " naming slot "
                          + std::to_string(e.sender_slot)
                          + (damaged ? " carries a committed record's stamp: a record whose "
                                       "header was overwritten; skipped"
                                     : " stayed uncommitted while that producer lives: "
                                       "discarded as garbage (a real producer's commit now "
                                       "fails and it reports the loss)"));
        ++handed;
      }
      continue;
    }
    if (e.state == inbox_reader::status::corrupt) {
      auto skipped = reader_.recover();
      report_corruption(e, skipped, handler);
      ++handed;
      continue;
    }
    handle_record(e, handler);
    reader_.consume();
    ++records;
  }
  drained = drained || records == 0;
  // Space goes back to producers when we run dry or every eighth of the
  // ring, not per record.
  reader_.publish(drained);
  audit(handler, drained);
  return handed + records + deliver_events(handler);
}

// -- waiting ----------------------------------------------------------------------

bool inbox_consumer::has_work() const noexcept {
  return reader_.readable() || events_pending_.load(std::memory_order_acquire);
}

void inbox_consumer::idle(std::chrono::nanoseconds max_wait) noexcept {
  auto start = clock::now();
  auto until = start + max_wait;
  // Busy polls up to `limit`; true as soon as there is work.
  auto spin_until = [&](clock::time_point limit) {
    for (;;) {
      for (int i = 0; i < polls_per_clock_read; ++i) {
        if (has_work())
          return true;
        cpu_relax();
      }
      stamp(); // a consumer that waits for records is alive
      if (clock::now() >= limit)
        return false;
    }
  };
  // Polls with a sched_yield() between polls up to `limit`, so that a peer
  // or a worker on the same core runs at once. But while the yields come
  // back at once (nobody else wants this core), the polls between them are
  // busy ones for uncontested_spin, and so is the start of the next wait:
  // a yield costs ~0.5 us here, and one at the start of each wait made the
  // 4 KiB request round trip at cores 0/1 ~1 us slower than busy-spin
  // (5.2 against 4.2 us); this way both take the same (4.2-4.3 us side by
  // side), and the round trip with both processes on one core, where every
  // yield lets the peer run, is as before (shmbus-bench bus, 2026-11-30).
  auto yield_until = [&](clock::time_point limit) {
    auto last = clock::now();
    auto spin_a_while = [&] {
      if (spin_until(std::min(limit, last + uncontested_spin)))
        return true;
      last = clock::now();
      return false;
    };
    if (!core_shared_ && spin_a_while())
      return true;
    for (;;) {
      if (has_work())
        return true;
      ::sched_yield();
      // A yield on a busy machine may give the core away for a whole time
      // slice: the clock (and the heartbeat) is read after each one.
      auto now = clock::now();
      stamp();
      core_shared_ = now - last >= contested_yield;
      last = now;
      if (now >= limit)
        return false;
      if (!core_shared_ && spin_a_while())
        return true;
    }
  };
  if (idle_.kind == idle_kind::busy_spin) {
    spin_until(until);
    return;
  }
  if (idle_.kind == idle_kind::adaptive) {
    if (spin_until(std::min(until, start + idle_.spin)))
      return;
    if (yield_until(std::min(until, start + idle_.spin + idle_.yield)))
      return;
  }
  auto now = clock::now();
  if (now < until)
    reader_.park(std::min<std::chrono::nanoseconds>(until - now, max_park_),
                 [this] { return has_work(); });
}

size_t inbox_consumer::run_once(inbox_handler& handler,
                                std::chrono::nanoseconds max_wait,
                                size_t max_records) noexcept {
  if (auto n = poll(handler, max_records))
    return n;
  idle(max_wait);
  return poll(handler, max_records);
}

} // namespace shmbus::transport
