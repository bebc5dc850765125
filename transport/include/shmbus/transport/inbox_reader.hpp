// Consumer side of an inbox ring: one per ring, used by one thread.
// Validates everything it reads from shared memory before using it, and
// hands the space back to producers. On a bus with checksums, each record's
// payload is copied out of the ring, its checksum checked on that copy, and
// the copy handed over: a process that writes into the record after the
// check cannot change what the handler reads. Without checksums records are
// read in place (zero copy), and nothing is checked but their framing.
//
// The consumer owns the ring's truth: its private head. Garbage at the head
// is skipped to the next record boundary (recover), and audit() finds and
// repairs impossible control words (a published head or head cache that is
// not ours, a tail that is misaligned, beyond the records or inside one).
// Every walk is bounded by the capacity.
//
// Threads: not thread-safe; one consumer thread owns a reader. Only park()
// waits; every other call returns at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "shmbus/transport/inbox_ring.hpp"

namespace shmbus::transport {

class inbox_reader {
public:
  enum class status {
    record,  ///< a committed record (data or control) is at the head
    empty,   ///< nothing to read
    pending, ///< the head record is claimed but not committed yet
    corrupt, ///< the head record failed validation; call recover()
  };

  struct entry {
    status state = status::empty;
    record_kind kind = record_kind::data;
    uint32_t sender_slot = 0;
    uint32_t sender_incarnation_bits = 0; ///< low 17 bits of the incarnation
    uint32_t destination_incarnation = 0;
    const std::byte* payload = nullptr;
    uint32_t payload_bytes = 0;
    uint64_t position = 0;
    uint64_t raw_header = 0;
    /// For status record: false if its checksum does not match.
    bool intact = true;
    const char* problem = nullptr; ///< what failed validation, if corrupt
  };

  /// What audit() found wrong and put right.
  struct audit_report {
    bool head_restored = false;       ///< the published head was not ours
    bool head_cache_restored = false; ///< the producers' copy ran ahead
    bool tail_restored = false;       ///< the tail hint was impossible
    uint64_t bad_tail = 0;
    uint64_t tail = 0;
    /// Free words skipped at the head because records follow them: a tail
    /// moved forward past the end of the records, which producers followed.
    uint64_t hole_skipped = 0;

    bool any() const noexcept {
      return head_restored || head_cache_restored || tail_restored || hole_skipped > 0;
    }
  };

  inbox_reader() = default;
  /// Reads `ring` from its published head (where the previous owner
  /// stopped), checking checksums if the ring has them.
  inbox_reader(inbox_ring ring, uint32_t max_payload_bytes, uint32_t node_slots);

  /// Looks at the record at the head. Padding is consumed on the way. The
  /// entry's payload stays valid until the next peek().
  entry peek() noexcept;

  /// Frees the record returned by the last peek() (status record).
  void consume() noexcept;

  /// Discards the pending claim at the head: only once its producer is known
  /// dead. Returns false if it was committed in the meantime (peek again).
  bool skip_pending() noexcept;

  /// Whether the claim at the head already has the stamp (and checksum) of
  /// a committed record: a committed record whose kind was overwritten, or
  /// a producer between writing those words and committing (nanoseconds).
  bool pending_looks_committed() const noexcept;

  /// After a corrupt peek: skips to the next record boundary (a committed
  /// record whose stamp names its position and whose checksum holds, a
  /// claim, or the end of the records), frees what it skipped and returns
  /// how many bytes that was (at least 8, at most the capacity: then the
  /// whole ring was garbage and is reset).
  uint64_t recover() noexcept;

  /// Repairs control words that no honest party writes (see audit_report);
  /// call it about once per heartbeat interval. Reads at most one ring.
  audit_report audit() noexcept;

  /// Hands the space of everything consumed since the last publish back to
  /// producers and wakes those waiting for it. Without `force`, only once an
  /// eighth of the ring is consumed: publishing rarely keeps the head's
  /// cache line (and the waiter check, a locked instruction) off the
  /// per-record path. Force it before going idle.
  void publish(bool force = true) noexcept;

  /// Announces the park, re-checks `has_work()` and sleeps on the parked
  /// word for at most `timeout` unless there is work or a producer wakes us.
  /// @warning Blocks the caller up to `timeout`.
  template <class HasWork>
  void park(std::chrono::nanoseconds timeout, HasWork&& has_work) noexcept {
    auto& parked = ring_.control()->consumer_parked;
    parked.store(1, std::memory_order_seq_cst);
    if (!has_work())
      park_on(parked, timeout);
    parked.store(0, std::memory_order_relaxed);
  }

  /// True if the head holds something other than a live producer's claim.
  bool readable() const noexcept;

  uint64_t head() const noexcept { return head_; }
  const inbox_ring& ring() const noexcept { return ring_; }

private:
  void release(uint64_t bytes) noexcept;
  static void park_on(std::atomic<uint32_t>& parked,
                      std::chrono::nanoseconds timeout) noexcept;
  const char* validate(uint64_t header, uint64_t position) const noexcept;
  /// Whether any word after `from`, up to one capacity from the head, is
  /// not the free tag of its position.
  bool anything_after(uint64_t from) const noexcept;
  /// Checks the words after a committed header; reports its sizes and
  /// whether its checksum holds, taken of the payload's copy in `copy` if
  /// given (else in place). A problem text, or nullptr.
  const char* check_committed(uint64_t header, uint64_t position, uint32_t& payload_bytes,
                              uint32_t& destination, bool& intact,
                              std::byte* copy = nullptr) const noexcept;

  inbox_ring ring_;
  uint64_t head_ = 0;
  uint64_t published_head_ = 0;
  uint64_t current_length_ = 0;
  uint64_t max_record_bytes_ = 0;
  uint32_t max_payload_bytes_ = 0;
  uint32_t node_slots_ = 0;
  /// Times publish() or audit() found a head word that was not ours.
  uint64_t head_overwrites_ = 0;
  /// Where a record's payload is checked and handed over from, on a ring
  /// with checksums (empty otherwise).
  std::vector<std::byte> copy_;
};

} // namespace shmbus::transport
