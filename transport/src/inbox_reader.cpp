#include "shmbus/transport/inbox_reader.hpp"

#include "futex.hpp"

namespace shmbus::transport {

inbox_reader::inbox_reader(inbox_ring ring, uint32_t max_payload_bytes,
                           uint32_t node_slots) noexcept
  : ring_(ring),
    head_(ring.control()->head.load(std::memory_order_acquire)),
    published_head_(head_),
    max_record_bytes_(record::record_bytes(max_payload_bytes)),
    node_slots_(node_slots) {
  // nop
}

const char* inbox_reader::validate(uint64_t header,
                                   uint64_t position) const noexcept {
  auto length = uint64_t{record::length_of(header)};
  auto idx = ring_.index_of(position);
  if (length % record::alignment != 0 || length < record::alignment)
    return "record length is not a positive multiple of 8";
  if (idx + length > ring_.capacity())
    return "record runs past the end of the ring";
  auto kind = record::kind_of(header);
  if (kind == record_kind::padding)
    return nullptr;
  if (length < record::header_bytes || length > max_record_bytes_)
    return "record length outside [header, max-message-size]";
  if (record::slot_of(header) >= node_slots_)
    return "sender slot outside the node table";
  return nullptr;
}

inbox_reader::entry inbox_reader::peek() noexcept {
  for (;;) {
    entry e;
    e.position = head_;
    auto& w = ring_.word(head_);
    // Acquire pairs with the producer's commit CAS: payload is visible.
    auto header = w.load(std::memory_order_acquire);
    e.raw_header = header;
    if (header == record::free_tag(head_)) {
      e.state = status::empty;
      return e;
    }
    if (record::is_free(header)) {
      e.state = status::corrupt;
      e.problem = "free tag of another position at the head";
      return e;
    }
    if (auto problem = validate(header, head_)) {
      e.state = status::corrupt;
      e.problem = problem;
      return e;
    }
    auto kind = record::kind_of(header);
    auto length = record::length_of(header);
    current_length_ = length;
    if (kind == record_kind::padding) {
      release(length);
      continue;
    }
    e.kind = kind;
    e.sender_slot = record::slot_of(header);
    e.sender_incarnation_bits = record::incarnation_bits_of(header);
    if (kind == record_kind::claimed) {
      e.state = status::pending;
      return e;
    }
    auto* words = &w;
    auto meta = words[1].load(std::memory_order_relaxed);
    auto stamped = words[2].load(std::memory_order_relaxed);
    auto payload = static_cast<uint32_t>(meta);
    if (stamped != head_ || record::record_bytes(payload) != length) {
      e.state = status::corrupt;
      e.problem = stamped != head_ ? "record position stamp does not match"
                                   : "payload size does not match record length";
      return e;
    }
    e.state = status::record;
    e.destination_incarnation = static_cast<uint32_t>(meta >> 32);
    e.payload = ring_.bytes_at(head_) + record::header_bytes;
    e.payload_bytes = payload;
    return e;
  }
}

void inbox_reader::consume() noexcept {
  release(current_length_);
}

bool inbox_reader::skip_pending() noexcept {
  auto& w = ring_.word(head_);
  auto header = w.load(std::memory_order_acquire);
  if (record::is_free(header) || record::kind_of(header) != record_kind::claimed)
    return false;
  auto pad = record::make_header(record_kind::padding,
                                 record::length_of(header),
                                 record::slot_of(header),
                                 record::incarnation_bits_of(header));
  // A producer that is in fact alive fails its commit CAS afterwards and
  // reports the loss instead of believing the record was delivered.
  if (!w.compare_exchange_strong(header, pad, std::memory_order_acq_rel))
    return false;
  release(record::length_of(header));
  return true;
}

uint64_t inbox_reader::recover() noexcept {
  auto start = head_;
  // The end of all claims: follow well-formed headers from the tail hint.
  auto end = ring_.control()->tail.load(std::memory_order_acquire);
  if (end < start)
    end = start;
  while (end - start < ring_.capacity()) {
    auto w = ring_.word(end).load(std::memory_order_acquire);
    if (record::is_free(w) || validate(w, end) != nullptr)
      break;
    end += record::length_of(w);
  }
  if (end - start > ring_.capacity())
    end = start + ring_.capacity();
  // The first later position holding a committed record stamped with its
  // own position is a record boundary; payload bytes can hardly fake that.
  auto resume = end;
  for (auto pos = start + record::alignment; pos < end; pos += record::alignment) {
    if (ring_.index_of(pos) + record::header_bytes > ring_.capacity())
      continue;
    auto* words = &ring_.word(pos);
    auto w = words[0].load(std::memory_order_acquire);
    if (record::is_free(w) || validate(w, pos) != nullptr)
      continue;
    auto kind = record::kind_of(w);
    if ((kind == record_kind::data || kind == record_kind::control)
        && words[2].load(std::memory_order_relaxed) == pos) {
      resume = pos;
      break;
    }
  }
  if (resume == start) {
    // Garbage where the next record should start: restore the free tag so
    // producers can claim it again.
    auto& w = ring_.word(start);
    auto garbage = w.load(std::memory_order_acquire);
    if (garbage != record::free_tag(start))
      w.compare_exchange_strong(garbage, record::free_tag(start),
                                std::memory_order_acq_rel);
    return 0;
  }
  release(resume - start);
  return resume - start;
}

void inbox_reader::release(uint64_t bytes) noexcept {
  auto capacity = ring_.capacity();
  for (uint64_t pos = head_; pos < head_ + bytes; pos += record::alignment)
    ring_.word(pos).store(record::free_tag(pos + capacity),
                          std::memory_order_relaxed);
  head_ += bytes;
}

void inbox_reader::publish(bool force) noexcept {
  if (head_ == published_head_
      || (!force && head_ - published_head_ < ring_.capacity() / 8))
    return;
  published_head_ = head_;
  auto* control = ring_.control();
  // Release: producers that acquire the new head see the free tags.
  control->head.store(head_, std::memory_order_release);
  // An RMW, not a plain load: a producer's later fetch_add in
  // wait_for_space reads from it and so sees our new head (Dekker without a
  // standalone fence, which ThreadSanitizer cannot model).
  if (control->space_waiters.fetch_add(0, std::memory_order_seq_cst) > 0) {
    control->space_seq.fetch_add(1, std::memory_order_release);
    detail::futex_wake(&control->space_seq, INT32_MAX);
  }
}

bool inbox_reader::readable() const noexcept {
  auto header = ring_.word(head_).load(std::memory_order_seq_cst);
  if (header == record::free_tag(head_))
    return false;
  return record::is_free(header) || record::kind_of(header) != record_kind::claimed;
}

void inbox_reader::park_on(std::atomic<uint32_t>& parked,
                           std::chrono::nanoseconds timeout) noexcept {
  detail::futex_wait(&parked, 1, timeout);
}

} // namespace shmbus::transport
