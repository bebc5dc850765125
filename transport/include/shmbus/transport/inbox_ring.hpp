// Producer side of an inbox ring, and the view of a ring in this process's
// mapping. Many processes may hold views of the same ring at once; a view
// holds no state of its own beyond the addresses. See inbox_ring_data.hpp
// for the record format and the claim protocol.
//
// Threads: any number of producers, in any processes, may call try_claim,
// commit, wake_consumer, wait_for_space and used_bytes at once; only
// wait_for_space waits. initialize() runs before any producer can address
// the ring. The consumer side is inbox_reader.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "shmbus/transport/inbox_ring_data.hpp"

namespace shmbus::transport {

class inbox_ring {
public:
  /// A record claimed by this producer: write `payload_bytes` bytes to
  /// `payload`, then `commit` it.
  struct claim {
    uint64_t position = 0;
    uint64_t header = 0;
    record_kind kind = record_kind::data;
    std::byte* payload = nullptr;
    uint32_t payload_bytes = 0;
  };

  enum class claim_status {
    claimed, ///< `out` holds the claim
    full,    ///< no room now; wait for space and retry
    corrupt, ///< the word at the tail is garbage; the ring needs recovery
  };

  inbox_ring() = default;
  inbox_ring(ring_control* control, std::byte* buffer,
             uint32_t capacity) noexcept;

  /// Tags every word of the buffer free for the first lap. Done once, by the
  /// slot's first owner, before any producer can address the slot.
  /// Never blocks; not thread-safe.
  void initialize() noexcept;

  /// Whether initialize() completed (acquire). Never blocks; any thread.
  bool initialized() const noexcept;

  /// One attempt to claim room for a record of `payload_bytes` bytes.
  /// Lock-free: a producer that stalls or dies after its claim never blocks
  /// other producers, it only holds back the consumer until it is known dead.
  /// Never blocks; any thread.
  claim_status try_claim(record_kind kind, uint32_t payload_bytes,
                         uint32_t producer_slot, uint32_t producer_incarnation,
                         uint32_t destination_incarnation,
                         claim& out) noexcept;

  /// Publishes the record. False when the consumer discarded the claim in
  /// the meantime (it declared this producer dead, or recovered from
  /// corruption): the message was not delivered. Never blocks; any thread.
  bool commit(const claim& c) noexcept;

  /// Wakes the consumer if it is parked. Call after commit. Never blocks
  /// (one futex wake when the consumer is parked); any thread.
  void wake_consumer() noexcept;

  /// Sleeps until the consumer frees space, at most `timeout`; returns at
  /// once if `bytes` already fit. Returns early on any wake-up: re-check.
  /// @warning Blocks the caller up to `timeout`. Any thread.
  void wait_for_space(uint64_t bytes, std::chrono::nanoseconds timeout) noexcept;

  /// Bytes claimed and not yet consumed (a snapshot). Never blocks.
  uint64_t used_bytes() const noexcept;

  uint32_t capacity() const noexcept { return capacity_; }
  ring_control* control() const noexcept { return control_; }

  /// The word at `position` (any lap).
  std::atomic<uint64_t>& word(uint64_t position) const noexcept {
    return words_[(position & mask_) / 8];
  }

  std::byte* bytes_at(uint64_t position) const noexcept {
    return buffer_ + (position & mask_);
  }

  uint64_t index_of(uint64_t position) const noexcept {
    return position & mask_;
  }

private:
  /// Reads the consumer's head and refreshes the producers' copy of it.
  uint64_t refresh_head() noexcept;

  ring_control* control_ = nullptr;
  std::byte* buffer_ = nullptr;
  std::atomic<uint64_t>* words_ = nullptr;
  uint32_t capacity_ = 0;
  uint64_t mask_ = 0;
};

} // namespace shmbus::transport
