#include "shmbus/transport/inbox_ring.hpp"

#include <algorithm>
#include <cstring>

#include "futex.hpp"
#include "stale_cas.hpp"

namespace shmbus::transport {

namespace {

/// Rounds of one try_claim before it gives up with `full` (the caller
/// waits and retries): every round but the last sees another party's
/// progress, so only garbage or extreme contention gets here.
constexpr int max_claim_rounds = 4096;

bool aligned(uint64_t position) {
  return position % record::alignment == 0;
}

} // namespace

inbox_ring::inbox_ring(ring_control* control, std::byte* buffer,
                       uint32_t capacity, bool checksums) noexcept
  : control_(control),
    buffer_(buffer),
    words_(reinterpret_cast<std::atomic<uint64_t>*>(buffer)),
    capacity_(capacity),
    mask_(uint64_t{capacity} - 1),
    checksums_(checksums) {
  // nop
}

void inbox_ring::initialize() noexcept {
  for (uint64_t pos = 0; pos < capacity_; pos += 8)
    word(pos).store(record::free_tag(pos), std::memory_order_relaxed);
  control_->head.store(0, std::memory_order_relaxed);
  control_->tail.store(0, std::memory_order_relaxed);
  control_->head_cache.store(0, std::memory_order_relaxed);
  control_->consumer_parked.store(0, std::memory_order_relaxed);
  control_->space_waiters.store(0, std::memory_order_relaxed);
  // Pairs with the acquire in initialized(): the tags are visible first.
  control_->initialized.store(ring_initialized_magic, std::memory_order_release);
}

bool inbox_ring::initialized() const noexcept {
  return control_->initialized.load(std::memory_order_acquire)
         == ring_initialized_magic;
}

bool inbox_ring::well_formed(uint64_t header, uint64_t position) const noexcept {
  auto length = uint64_t{record::length_of(header)};
  return !record::is_free(header) && length >= record::alignment
         && length % record::alignment == 0 && index_of(position) + length <= capacity_;
}

std::optional<uint64_t> inbox_ring::end_of_records(uint64_t from) const noexcept {
  if (!aligned(from))
    return std::nullopt;
  auto p = from;
  while (p - from < capacity_) {
    // Acquire pairs with the claim CAS: a header we follow is complete.
    auto w = word(p).load(std::memory_order_acquire);
    if (w == record::free_tag(p))
      return p;
    if (!well_formed(w, p))
      return std::nullopt;
    p += record::length_of(w);
  }
  if (p - from > capacity_)
    return std::nullopt;
  return p; // the ring is full
}

bool inbox_ring::only_free(uint64_t from, uint64_t to) const noexcept {
  for (auto p = from; p < to && p - from < capacity_; p += record::alignment)
    if (word(p).load(std::memory_order_acquire) != record::free_tag(p))
      return false;
  return true;
}

bool inbox_ring::reaches(uint64_t from, uint64_t position) const noexcept {
  if (position < from)
    return true; // consumed: a hint that lags behind the consumer is honest
  auto p = from;
  while (p < position && p - from < capacity_) {
    auto w = word(p).load(std::memory_order_acquire);
    if (!well_formed(w, p))
      return true; // the walk cannot tell (the consumer moved on meanwhile)
    p += record::length_of(w);
  }
  return p == position;
}

inbox_ring::claim_status
inbox_ring::try_claim(record_kind kind, uint32_t payload_bytes,
                      uint32_t producer_slot, uint32_t producer_incarnation,
                      uint32_t destination_incarnation, claim& out) noexcept {
  auto length = record::record_bytes(payload_bytes);
  auto claimed = record::make_header(record_kind::claimed,
                                     static_cast<uint32_t>(length),
                                     producer_slot, producer_incarnation);
  auto& tail = control_->tail;
  // The tail is a hint: when it cannot be right, find the real end of the
  // records from the head and move the hint there. Moving it forward from a
  // record boundary is help (a claimant had not moved it yet); a hint that
  // was misaligned, past the end of the records or inside a record was
  // written by a party that is not honest.
  out.repaired = false;
  auto move_tail = [&](uint64_t bad_tail, uint64_t to) {
    if (tail.compare_exchange_strong(bad_tail, to, std::memory_order_acq_rel)
        && (to < bad_tail || !aligned(bad_tail)
            || !reaches(control_->head.load(std::memory_order_acquire), bad_tail)))
      out.repaired = true;
  };
  // Producers that followed a tail moved past the end of the records left
  // a hole of free words with their records after it: moving the tail back
  // onto the hole would let claims overwrite those records. The consumer
  // skips the hole when it gets there (inbox_reader::audit, once per
  // heartbeat interval); until then the claim fails as `corrupt`.
  auto hole_before = [&](uint64_t end, uint64_t bad_tail, uint64_t h) {
    return end < bad_tail && !only_free(end, std::min(bad_tail, h + capacity_));
  };
  enum class rederived { moved, hole, walk_failed };
  auto rederive_tail = [&](uint64_t bad_tail, uint64_t h) {
    auto end = end_of_records(h);
    if (!end)
      return rederived::walk_failed;
    if (hole_before(*end, bad_tail, h))
      return rederived::hole;
    move_tail(bad_tail, *end);
    return rederived::moved;
  };
  for (int round = 0; round < max_claim_rounds; ++round) {
    // Acquire pairs with other producers' release CAS of tail.
    auto t = tail.load(std::memory_order_acquire);
    // Acquire pairs with refresh_head's release: whoever refreshed the copy
    // saw the free tags up to it, and so do we.
    auto h = control_->head_cache.load(std::memory_order_acquire);
    auto idx = index_of(t);
    bool wraps = idx + length > capacity_;
    uint64_t needed = wraps ? capacity_ - idx : length;
    if (!aligned(t) || !aligned(h) || t < h || t + needed - h > capacity_) {
      auto cached = h;
      h = refresh_head();
      // The cache is a copy of an earlier head: never ahead of it.
      if (cached > h || !aligned(cached))
        out.repaired = true;
      if (!aligned(h))
        return claim_status::corrupt; // the consumer re-publishes its head
      if (!aligned(t) || (t > h && t - h > capacity_)) {
        // No producer ever moves the tail there: garbage.
        auto found = t < h ? rederived::walk_failed : rederive_tail(t, h);
        if (found == rederived::hole)
          return claim_status::corrupt;
        if (found == rederived::walk_failed)
          move_tail(t, h);
        continue;
      }
      if (t < h) {
        // The consumer overtook a lagging tail hint (it skipped a dead
        // producer's claim): move the hint to its head.
        tail.compare_exchange_strong(t, h, std::memory_order_acq_rel);
        continue;
      }
      if (t + needed - h > capacity_)
        return claim_status::full;
    }
    auto& w = word(t);
    auto current = w.load(std::memory_order_acquire);
    // A producer that stalled here for a lap holds a tail that now lies
    // inside a newer record (see stale_cas.hpp).
    auto still_tail = [&] { return tail.load(std::memory_order_acquire) == t; };
    auto claim_word = [&](uint64_t expected, uint64_t header) {
      return detail::stale_cas([&] {
        return w.compare_exchange_strong(expected, header, std::memory_order_acq_rel);
      });
    };
    if (current == record::free_tag(t)) {
      // The word before a free tail is never free in this lap: it is the
      // last word of a record (its claimant marks it at once) or a word the
      // consumer freed for the next lap. If it is, the tail was moved past
      // the end of the records: claiming there would leave a hole that
      // later claims could fill over newer records. Unless the record
      // before is being claimed right now, the walk from the head says so.
      if (word(t - record::alignment).load(std::memory_order_acquire)
          == record::free_tag(t - record::alignment)) {
        auto walk_from = control_->head.load(std::memory_order_acquire);
        auto end = end_of_records(walk_from);
        // The walk met a word it cannot follow: the consumer freed words
        // meanwhile (its published head lags behind them), the record
        // before is being claimed right now, or garbage. Look again rather
        // than claim after a hole the walk could not rule out; garbage
        // ends the rounds as `full`, and the consumer's audit repairs it.
        if (!end)
          continue;
        if (*end != t) {
          if (hole_before(*end, t, walk_from))
            return claim_status::corrupt;
          move_tail(t, *end);
          continue;
        }
      }
      if (wraps) {
        // Fill the end of the buffer; the record goes at the next lap start.
        auto pad = record::make_header(record_kind::padding,
                                       static_cast<uint32_t>(needed),
                                       producer_slot, producer_incarnation);
        if (still_tail() && claim_word(current, pad)) {
          // Padding is complete with its header: once the consumer is past
          // it, its last word may belong to a newer record.
          if (control_->head.load(std::memory_order_acquire) <= t)
            mark_last_word(t, needed);
          tail.compare_exchange_strong(t, t + needed, std::memory_order_acq_rel);
        }
        continue;
      }
      if (!still_tail() || !claim_word(current, claimed))
        continue;
      mark_last_word(t, length);
      auto expected_tail = t; // a failed CAS overwrites its first argument
      tail.compare_exchange_strong(expected_tail, t + length,
                                   std::memory_order_acq_rel);
      out.position = t;
      out.header = claimed;
      out.kind = kind;
      out.payload = bytes_at(t) + record::header_bytes;
      out.payload_bytes = payload_bytes;
      out.destination_incarnation = destination_incarnation;
      return claim_status::claimed;
    }
    // Someone claimed t and has not moved the tail yet: help, then retry.
    // Only within one capacity of the head: further on, the word is an
    // unconsumed record of the previous lap, not a claim of this one.
    if (well_formed(current, t) && t + record::length_of(current) - h <= capacity_) {
      tail.compare_exchange_strong(t, t + record::length_of(current),
                                   std::memory_order_acq_rel);
      continue;
    }
    // A free tag of another position, or a malformed header: our view of
    // the tail or the head was stale, the tail points into the middle of a
    // record, or the ring holds garbage there.
    if (!still_tail() || refresh_head() > t)
      continue;
    if (current == record::free_tag(t + capacity_)) {
      // The consumer is past t before the tail: it took padding (or a dead
      // producer's claim) whose claimant never moved the tail. Its next
      // published head moves the tail on (the t < h case above).
      return claim_status::full;
    }
    auto walk_from = control_->head.load(std::memory_order_acquire);
    auto found = rederive_tail(t, walk_from);
    if (found == rederived::hole)
      return claim_status::corrupt;
    if (found == rederived::moved)
      continue;
    // The walk met words the consumer freed meanwhile: look again.
    if (!still_tail() || control_->head.load(std::memory_order_acquire) != walk_from)
      continue;
    return claim_status::corrupt;
  }
  return claim_status::full;
}

void inbox_ring::mark_last_word(uint64_t position, uint64_t length) noexcept {
  // Any value but a free tag; the payload (or the stamp) overwrites it.
  // Only while the word is still free in this lap: a padding record is
  // complete once its header is in, so the consumer may have consumed it
  // before we get here.
  if (length <= record::alignment)
    return;
  auto last = position + length - record::alignment;
  auto expected = record::free_tag(last);
  detail::stale_cas([&] {
    return word(last).compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
  });
}

uint64_t inbox_ring::refresh_head() noexcept {
  // Acquire pairs with the consumer's release of head: the free tags of
  // everything before it are visible.
  auto h = control_->head.load(std::memory_order_acquire);
  control_->head_cache.store(h, std::memory_order_release);
  return h;
}

bool inbox_ring::commit(const claim& c, const std::byte* source) noexcept {
  auto committed = record::make_header(
    c.kind, record::length_of(c.header), record::slot_of(c.header),
    record::incarnation_bits_of(c.header));
  auto sizes = uint64_t{c.payload_bytes} | (uint64_t{c.destination_incarnation} << 32);
  auto crc = checksums_ ? record::record_crc(committed, sizes, source ? source : c.payload,
                                             c.payload_bytes)
                        : 0;
  auto* words = &word(c.position);
  words[1].store(sizes, std::memory_order_relaxed);
  words[2].store(record::make_stamp_word(c.position, crc), std::memory_order_relaxed);
  auto expected = c.header;
  // Release publishes the payload and the words above (pairs with the
  // consumer's acquire load of the header); seq_cst also orders it before
  // wake_consumer's load of the parked flag (Dekker with the consumer's park).
  return words[0].compare_exchange_strong(expected, committed, std::memory_order_seq_cst);
}

void inbox_ring::wake_consumer() noexcept {
  auto& parked = control_->consumer_parked;
  if (parked.load(std::memory_order_seq_cst) != 0
      && parked.exchange(0, std::memory_order_seq_cst) != 0)
    detail::futex_wake(&parked, 1);
}

void inbox_ring::wait_for_space(uint64_t bytes,
                                std::chrono::nanoseconds timeout) noexcept {
  auto seq = control_->space_seq.load(std::memory_order_acquire);
  control_->space_waiters.fetch_add(1, std::memory_order_seq_cst);
  // Re-check after announcing ourselves: the consumer either sees us as a
  // waiter and bumps space_seq, or freed the space before and we see it.
  if (used_bytes() + bytes > capacity_)
    detail::futex_wait(&control_->space_seq, seq, timeout);
  control_->space_waiters.fetch_sub(1, std::memory_order_relaxed);
}

uint64_t inbox_ring::used_bytes() const noexcept {
  auto h = control_->head.load(std::memory_order_seq_cst);
  auto t = control_->tail.load(std::memory_order_seq_cst);
  return t > h ? std::min<uint64_t>(t - h, capacity_) : 0;
}

} // namespace shmbus::transport
