#include "shmbus/transport/inbox_ring.hpp"

#include <cstring>

#include "futex.hpp"

namespace shmbus::transport {

inbox_ring::inbox_ring(ring_control* control, std::byte* buffer,
                       uint32_t capacity) noexcept
  : control_(control),
    buffer_(buffer),
    words_(reinterpret_cast<std::atomic<uint64_t>*>(buffer)),
    capacity_(capacity),
    mask_(uint64_t{capacity} - 1) {
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

inbox_ring::claim_status
inbox_ring::try_claim(record_kind kind, uint32_t payload_bytes,
                      uint32_t producer_slot, uint32_t producer_incarnation,
                      uint32_t destination_incarnation, claim& out) noexcept {
  auto length = record::record_bytes(payload_bytes);
  auto claimed = record::make_header(record_kind::claimed,
                                     static_cast<uint32_t>(length),
                                     producer_slot, producer_incarnation);
  auto& tail = control_->tail;
  for (;;) {
    // Acquire pairs with other producers' release CAS of tail.
    auto t = tail.load(std::memory_order_acquire);
    auto idx = index_of(t);
    bool wraps = idx + length > capacity_;
    uint64_t needed = wraps ? capacity_ - idx : length;
    // Acquire pairs with refresh_head's release: whoever refreshed the copy
    // saw the free tags up to it, and so do we.
    auto h = control_->head_cache.load(std::memory_order_acquire);
    if (t < h || t + needed - h > capacity_) {
      h = refresh_head();
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
    if (current == record::free_tag(t)) {
      if (wraps) {
        // Fill the end of the buffer; the record goes at the next lap start.
        auto pad = record::make_header(record_kind::padding,
                                       static_cast<uint32_t>(needed),
                                       producer_slot, producer_incarnation);
        if (w.compare_exchange_strong(current, pad, std::memory_order_acq_rel))
          tail.compare_exchange_strong(t, t + needed,
                                       std::memory_order_acq_rel);
        continue;
      }
      if (!w.compare_exchange_strong(current, claimed,
                                     std::memory_order_acq_rel))
        continue;
      auto expected_tail = t; // a failed CAS overwrites its first argument
      tail.compare_exchange_strong(expected_tail, t + length,
                                   std::memory_order_acq_rel);
      auto* words = &w;
      words[1].store(uint64_t{payload_bytes}
                       | (uint64_t{destination_incarnation} << 32),
                     std::memory_order_relaxed);
      words[2].store(t, std::memory_order_relaxed);
      out.position = t;
      out.header = claimed;
      out.kind = kind;
      out.payload = bytes_at(t) + record::header_bytes;
      out.payload_bytes = payload_bytes;
      return claim_status::claimed;
    }
    if (!record::is_free(current)) {
      // Someone claimed t and has not moved the tail yet: help, then retry.
      auto m = record::length_of(current);
      if (m >= record::alignment && m % record::alignment == 0
          && idx + m <= capacity_) {
        tail.compare_exchange_strong(t, t + m, std::memory_order_acq_rel);
        continue;
      }
    }
    // A free tag of another position, or a malformed header: garbage unless
    // our view of the tail or the head was stale.
    if (tail.load(std::memory_order_acquire) != t || refresh_head() > t)
      continue;
    return claim_status::corrupt;
  }
}

uint64_t inbox_ring::refresh_head() noexcept {
  // Acquire pairs with the consumer's release of head: the free tags of
  // everything before it are visible.
  auto h = control_->head.load(std::memory_order_acquire);
  control_->head_cache.store(h, std::memory_order_release);
  return h;
}

bool inbox_ring::commit(const claim& c) noexcept {
  auto committed = record::make_header(
    c.kind, record::length_of(c.header), record::slot_of(c.header),
    record::incarnation_bits_of(c.header));
  auto expected = c.header;
  // Release publishes the payload (pairs with the consumer's acquire load of
  // the header); seq_cst also orders it before wake_consumer's load of the
  // parked flag (Dekker with the consumer's park).
  return word(c.position).compare_exchange_strong(expected, committed,
                                                  std::memory_order_seq_cst);
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
  return t > h ? t - h : 0;
}

} // namespace shmbus::transport
