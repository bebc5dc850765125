#include "shmbus/transport/inbox_reader.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "futex.hpp"

namespace shmbus::transport {

inbox_reader::inbox_reader(inbox_ring ring, uint32_t max_payload_bytes,
                           uint32_t node_slots)
  : ring_(ring),
    head_(ring.control()->head.load(std::memory_order_acquire)),
    published_head_(head_),
    max_record_bytes_(record::record_bytes(max_payload_bytes)),
    max_payload_bytes_(max_payload_bytes),
    node_slots_(node_slots) {
  if (ring.checksums())
    copy_.resize(max_payload_bytes);
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
    return idx + length == ring_.capacity() ? nullptr
                                            : "padding that does not reach the end of the ring";
  if (length < record::header_bytes || length > max_record_bytes_)
    return "record length outside [header, max-message-size]";
  if (record::slot_of(header) >= node_slots_)
    return "sender slot outside the node table";
  return nullptr;
}

const char* inbox_reader::check_committed(uint64_t header, uint64_t position,
                                          uint32_t& payload_bytes, uint32_t& destination,
                                          bool& intact, std::byte* copy) const noexcept {
  auto* words = &ring_.word(position);
  auto sizes = words[1].load(std::memory_order_relaxed);
  auto stamp_word = words[2].load(std::memory_order_relaxed);
  payload_bytes = static_cast<uint32_t>(sizes);
  destination = static_cast<uint32_t>(sizes >> 32);
  auto stamp = static_cast<uint32_t>(stamp_word);
  if (stamp != record::stamp_of(position))
    return "record position stamp does not match";
  if (record::record_bytes(payload_bytes) != record::length_of(header))
    return "payload size does not match record length";
  // The record's length is at most the largest record's, which is rounded
  // up to whole words: the payload itself may still be a few bytes larger.
  if (payload_bytes > max_payload_bytes_)
    return "payload larger than the largest message";
  if (!ring_.checksums()) {
    intact = true;
    return nullptr;
  }
  const std::byte* payload = ring_.bytes_at(position) + record::header_bytes;
  if (copy != nullptr) {
    std::memcpy(copy, payload, payload_bytes);
    payload = copy;
  }
  intact = record::record_crc(header, sizes, payload, payload_bytes)
           == static_cast<uint32_t>(stamp_word >> 32);
  return nullptr;
}

inbox_reader::entry inbox_reader::peek() noexcept {
  // Padding is skipped on the way; a ring of nothing but padding is garbage
  // that recover() handles, so the loop ends within one ring.
  for (uint64_t skipped = 0;; ) {
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
      if (skipped >= ring_.capacity()) {
        e.state = status::corrupt;
        e.problem = "padding all around the ring";
        return e;
      }
      skipped += length;
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
    // With checksums, the payload is checked and handed over as a private
    // copy: a process writing into the record later cannot change what was
    // checked.
    auto* copy = copy_.empty() ? nullptr : copy_.data();
    if (auto problem = check_committed(header, head_, e.payload_bytes,
                                       e.destination_incarnation, e.intact, copy)) {
      e.state = status::corrupt;
      e.problem = problem;
      return e;
    }
    e.state = status::record;
    e.payload = copy != nullptr ? copy : ring_.bytes_at(head_) + record::header_bytes;
    return e;
  }
}

void inbox_reader::consume() noexcept {
  release(current_length_);
}

bool inbox_reader::pending_looks_committed() const noexcept {
  auto header = ring_.word(head_).load(std::memory_order_acquire);
  if (record::is_free(header) || record::kind_of(header) != record_kind::claimed)
    return false;
  for (auto kind : {record_kind::data, record_kind::control}) {
    auto as_committed = record::make_header(kind, record::length_of(header),
                                            record::slot_of(header),
                                            record::incarnation_bits_of(header));
    uint32_t payload_bytes = 0;
    uint32_t destination = 0;
    bool intact = false;
    if (validate(as_committed, head_) == nullptr
        && check_committed(as_committed, head_, payload_bytes, destination, intact) == nullptr
        && intact)
      return true;
  }
  return false;
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
  auto limit = start + ring_.capacity();
  // The end of what producers claimed: the first word after the head that
  // is the free tag of its own position (a claim in progress has its
  // header before its untouched words, so it is found below first).
  auto end = limit;
  for (auto pos = start + record::alignment; pos < limit; pos += record::alignment) {
    if (ring_.word(pos).load(std::memory_order_acquire) == record::free_tag(pos)) {
      end = pos;
      break;
    }
  }
  // The first record boundary after the garbage: a claim (its producer
  // commits or is skipped as usual), padding to the end of the ring, or a
  // committed record whose stamp names its position and whose checksum
  // holds; payload bytes can hardly fake all that.
  auto resume = end;
  for (auto pos = start + record::alignment; pos < end; pos += record::alignment) {
    if (ring_.index_of(pos) + record::header_bytes > ring_.capacity())
      continue;
    auto w = ring_.word(pos).load(std::memory_order_acquire);
    if (record::is_free(w) || validate(w, pos) != nullptr)
      continue;
    auto kind = record::kind_of(w);
    uint32_t payload_bytes = 0;
    uint32_t destination = 0;
    bool intact = false;
    if (kind == record_kind::claimed || kind == record_kind::padding
        || (check_committed(w, pos, payload_bytes, destination, intact) == nullptr
            && intact)) {
      resume = pos;
      break;
    }
  }
  release(resume - start);
  return resume - start;
}

bool inbox_reader::anything_after(uint64_t from) const noexcept {
  for (auto pos = from + record::alignment; pos < head_ + ring_.capacity();
       pos += record::alignment)
    if (ring_.word(pos).load(std::memory_order_acquire) != record::free_tag(pos))
      return true;
  return false;
}

inbox_reader::audit_report inbox_reader::audit() noexcept {
  audit_report report;
  auto* control = ring_.control();
  // Only we write the head: whatever else is there is put back (publish()
  // puts it back too, and counts it).
  if (control->head.load(std::memory_order_relaxed) != published_head_) {
    control->head.store(published_head_, std::memory_order_release);
    ++head_overwrites_;
  }
  report.head_restored = std::exchange(head_overwrites_, 0) > 0;
  // Producers copy the published head into head_cache; it never runs ahead.
  auto cache = control->head_cache.load(std::memory_order_acquire);
  if (cache > published_head_ || cache % record::alignment != 0) {
    control->head_cache.compare_exchange_strong(cache, published_head_,
                                                std::memory_order_acq_rel);
    report.head_cache_restored = true;
  }
  // An honest tail lags behind our head (producers move it on) or is one of
  // the record boundaries from our head to the first free word. Loaded
  // before the walk: only we turn words free, so a free word met on the
  // walk was free when the tail was loaded, and no producer moves the tail
  // past a free word.
  auto t = control->tail.load(std::memory_order_acquire);
  if (t % record::alignment == 0 && t <= head_)
    return report;
  auto p = head_;
  uint64_t w = 0;
  while (p - head_ < ring_.capacity() && p < t) {
    w = ring_.word(p).load(std::memory_order_acquire);
    if (w == record::free_tag(p) || !ring_.well_formed(w, p))
      break;
    p += record::length_of(w);
  }
  if (p == t)
    return report;
  bool stopped_at_free = p < t && w == record::free_tag(p);
  if (p < t && !stopped_at_free)
    return report; // garbage on the way: recover() deals with it when we get there
  auto end = stopped_at_free ? std::optional<uint64_t>{p} : ring_.end_of_records(head_);
  if (!end)
    return report;
  if (anything_after(*end)) {
    // Records after a free word: producers followed a tail moved past the
    // end of the records. Moving the tail back would let a claim overlap
    // them; instead we skip the hole once it is at our head.
    if (*end == head_) {
      // Word by word, each only if still free: a producer that claims one
      // meanwhile (its tail hint moved there) keeps its record.
      auto start = head_;
      auto limit = head_ + ring_.capacity();
      for (auto pos = head_; pos < limit; pos += record::alignment) {
        auto expected = record::free_tag(pos);
        if (!ring_.word(pos).compare_exchange_strong(expected,
                                                     record::free_tag(pos + ring_.capacity()),
                                                     std::memory_order_acq_rel))
          break;
        head_ = pos + record::alignment;
      }
      report.hole_skipped = head_ - start;
    }
    return report;
  }
  // Beyond one capacity, misaligned, past the end of the records or in the
  // middle of one, with nothing after the end: move it there.
  if (control->tail.compare_exchange_strong(t, *end, std::memory_order_acq_rel)) {
    report.tail_restored = true;
    report.bad_tail = t;
    report.tail = *end;
  }
  return report;
}

void inbox_reader::release(uint64_t bytes) noexcept {
  // In runs up to the end of the buffer, with the tags of consecutive words
  // counted up: a loop the compiler keeps in registers (the stores into the
  // segment could alias this object's fields otherwise).
  uint64_t capacity = ring_.capacity();
  while (bytes > 0) {
    auto run = std::min(bytes, capacity - ring_.index_of(head_));
    auto* words = &ring_.word(head_);
    auto tag = record::free_tag(head_ + capacity);
    auto n = (run + record::alignment - 1) / record::alignment;
    for (uint64_t i = 0; i < n; ++i)
      words[i].store(tag + i, std::memory_order_relaxed);
    head_ += run;
    bytes -= run;
  }
}

void inbox_reader::publish(bool force) noexcept {
  if (head_ == published_head_
      || (!force && head_ - published_head_ < ring_.capacity() / 8))
    return;
  auto* control = ring_.control();
  // Only we write the head: anything else there was put by someone else.
  if (control->head.load(std::memory_order_relaxed) != published_head_)
    ++head_overwrites_;
  published_head_ = head_;
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
