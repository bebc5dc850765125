// Producer side of an inbox ring, and the view of a ring in this process's
// mapping. Many processes may hold views of the same ring at once; a view
// holds no state of its own beyond the addresses. See inbox_ring_data.hpp
// for the record format and the claim protocol.
//
// Threads: any number of producers, in any processes, may call try_claim,
// commit, wake_consumer, wait_for_space and used_bytes at once; only
// wait_for_space waits. initialize() runs before any producer can address
// the ring. The consumer side is inbox_reader.
//
// The control words are hints that any process could have overwritten: a
// producer that finds an impossible tail (misaligned, more than a capacity
// ahead of the head, or pointing where no record starts) derives the real
// one by walking the record headers from the consumer's head, and every
// loop is bounded, so garbage costs a producer a walk of at most one ring,
// never a hang.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

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
    uint32_t destination_incarnation = 0;
    /// Set by try_claim whatever it returns: it put right a control word
    /// that no honest party writes (an impossible tail or head cache).
    bool repaired = false;
  };

  enum class claim_status {
    claimed, ///< `out` holds the claim
    full,    ///< no room now; wait for space and retry
    corrupt, ///< garbage at the tail or in the head word: the consumer
             ///< repairs it (wake it, wait for space and retry)
  };

  inbox_ring() = default;
  /// `checksums`: the bus's segment_flag_checksums; commit() then writes
  /// each record's CRC32C.
  inbox_ring(ring_control* control, std::byte* buffer, uint32_t capacity,
             bool checksums) noexcept;

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

  /// Writes the record's sizes, stamp and checksum, then publishes it. The
  /// checksum covers `source` (the payload_bytes the producer copied into
  /// the record from its own memory) if given, else the payload as it is in
  /// the ring now: only the first catches a scribble that lands in the
  /// record between the copy and the commit. False when the consumer
  /// discarded the claim in the meantime (it declared this producer dead,
  /// found the claim too old, or recovered from corruption): the message
  /// was not delivered. Never blocks; any thread.
  bool commit(const claim& c, const std::byte* source = nullptr) noexcept;

  /// Wakes the consumer if it is parked. Call after commit. Never blocks
  /// (one futex wake when the consumer is parked); any thread.
  void wake_consumer() noexcept;

  /// Sleeps until the consumer frees space, at most `timeout`; returns at
  /// once if `bytes` already fit. Returns early on any wake-up: re-check.
  /// @warning Blocks the caller up to `timeout`. Any thread.
  void wait_for_space(uint64_t bytes, std::chrono::nanoseconds timeout) noexcept;

  /// Bytes claimed and not yet consumed (a snapshot; 0 or at most the
  /// capacity even when the control words are garbage). Never blocks.
  uint64_t used_bytes() const noexcept;

  /// Where the records that start at `from` (a record boundary, such as
  /// the consumer's head) end: the first word that is the free tag of its
  /// own position, found by following the headers; nullopt if a word on the
  /// way is neither (garbage, or the consumer moved on meanwhile).
  /// Reads at most one ring. Never blocks; any thread.
  std::optional<uint64_t> end_of_records(uint64_t from) const noexcept;

  /// Whether `header` at `position` can be followed: not a free tag, length
  /// a positive multiple of 8 within the buffer. (The consumer checks more:
  /// sizes, sender slot, padding only to the end of the buffer.)
  bool well_formed(uint64_t header, uint64_t position) const noexcept;

  uint32_t capacity() const noexcept { return capacity_; }
  bool checksums() const noexcept { return checksums_; }
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

  /// Whether every word from `from` up to `to` (at most one ring) is the
  /// free tag of its own position: nothing was claimed there in this lap.
  bool only_free(uint64_t from, uint64_t to) const noexcept;

  /// Whether following the headers from `from` lands on `position` (true
  /// for a position before `from`, and when a word on the way cannot be
  /// followed: the walk cannot tell).
  bool reaches(uint64_t from, uint64_t position) const noexcept;

  /// Marks the last word of a record just claimed at `position` as taken,
  /// before the tail moves past it (see try_claim).
  void mark_last_word(uint64_t position, uint64_t length) noexcept;

  ring_control* control_ = nullptr;
  std::byte* buffer_ = nullptr;
  std::atomic<uint64_t>* words_ = nullptr;
  uint32_t capacity_ = 0;
  uint64_t mask_ = 0;
  bool checksums_ = false;
};

} // namespace shmbus::transport
