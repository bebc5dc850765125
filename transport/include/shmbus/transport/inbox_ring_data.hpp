// Shared-memory data of one inbox ring: many producers, one consumer,
// variable-length records. The algorithms live in inbox_ring.hpp.
//
// Positions are 64-bit byte counts that only grow; index = position mod
// capacity. Every 8-byte word of the buffer holds either a record header or
// data, or the *free tag* of the position it is free for:
//
//   free tag   bit 63 = 1, bits 0..62 = position / 8
//   header     bit 63 = 0 | kind (2) | producer incarnation (17) |
//              producer slot (12) | record length in bytes (32)
//
// A producer claims a record with one CAS of the header word from
// free_tag(tail) to a `claimed` header naming itself, so a claim is atomic
// with the claimant's identity: if the producer dies before committing, the
// consumer sees who owned the record and skips it once that producer is
// known dead (Aeron's "unblock", without a timeout guess). The tail is only a
// hint that any producer advances past a claimed header it finds. Because a
// free tag names its position, a producer holding a stale tail can never
// claim a word of another lap (no ABA). The consumer turns every word of a
// consumed record back into free tags for the next lap, then publishes the
// new head (release).
//
// Record: [header word][payload bytes u32 | destination incarnation u32]
//         [position / 8 u32 | crc32c u32][payload ... padded to 8 bytes]
//
// The producer writes the second and third words when it commits. The
// position stamp (low 32 bits of position / 8) ties a record to the place
// it was claimed for. On a bus with checksums (segment_flag_checksums) the
// CRC32C covers the committed header word, the second word and the payload
// (record_crc; the stamp needs none: it must equal its position exactly);
// elsewhere it is 0 and not checked. A record
// that fails the check is still handed over, marked not intact, so that a
// request in it can be answered with an error.
//
// Padding is only ever read where a producer wrote it: from its position
// to the end of the buffer (the consumer pads a dead producer's claim and
// frees it at once). Nothing read here is trusted; the consumer also
// repairs impossible control words (see inbox_reader.hpp).
//
// A control record's first payload byte is its record::control_type; a
// `leaving` record (one byte) is a node's goodbye, sent after its last
// message to the inbox's owner.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "shmbus/transport/crc32c.hpp"
#include "shmbus/transport/segment_layout.hpp"

namespace shmbus::transport {

enum class record_kind : uint32_t {
  claimed = 0, ///< space taken, payload being written
  data = 1,    ///< committed message
  padding = 2, ///< filler to the end of the buffer (or a skipped claim)
  control = 3, ///< committed transport-internal message
};

namespace record {

constexpr uint64_t free_bit = uint64_t{1} << 63;
constexpr size_t header_bytes = 24;
constexpr size_t alignment = 8;
constexpr uint32_t slot_mask = 0xfff;        // 12 bits
constexpr uint32_t incarnation_mask = 0x1ffff; // 17 bits

static_assert(limits::max_node_slots == slot_mask + 1,
              "every slot number, and no more, fits the record header");

/// What a control record says (its first payload byte).
enum class control_type : uint8_t {
  leaving = 1, ///< the sender leaves: report it lost after this record
};

constexpr uint64_t free_tag(uint64_t position) {
  return free_bit | (position >> 3);
}

constexpr bool is_free(uint64_t word) { return (word & free_bit) != 0; }

constexpr uint64_t make_header(record_kind kind, uint32_t length, uint32_t slot,
                               uint32_t incarnation) {
  return (uint64_t{static_cast<uint32_t>(kind)} << 61)
         | (uint64_t{incarnation & incarnation_mask} << 44)
         | (uint64_t{slot & slot_mask} << 32) | length;
}

constexpr record_kind kind_of(uint64_t h) {
  return static_cast<record_kind>((h >> 61) & 3);
}
constexpr uint32_t length_of(uint64_t h) { return static_cast<uint32_t>(h); }
constexpr uint32_t slot_of(uint64_t h) {
  return static_cast<uint32_t>(h >> 32) & slot_mask;
}
constexpr uint32_t incarnation_bits_of(uint64_t h) {
  return static_cast<uint32_t>(h >> 44) & incarnation_mask;
}

/// The position stamp of a record claimed at `position`.
constexpr uint32_t stamp_of(uint64_t position) {
  return static_cast<uint32_t>(position >> 3);
}

/// The third word of a record: its stamp and its checksum.
constexpr uint64_t make_stamp_word(uint64_t position, uint32_t crc) {
  return uint64_t{stamp_of(position)} | (uint64_t{crc} << 32);
}

/// The checksum of a record: over its committed header, its second word
/// and its `payload_bytes` payload bytes.
inline uint32_t record_crc(uint64_t header, uint64_t sizes, const std::byte* payload,
                           uint32_t payload_bytes) noexcept {
  alignas(8) unsigned char head[16]; // whole aligned words: the fast path
  std::memcpy(head, &header, 8);
  std::memcpy(head + 8, &sizes, 8);
  return crc32c_extend(crc32c_extend(0, head, sizeof(head)), payload, payload_bytes);
}

/// Bytes a record with `payload` bytes occupies.
constexpr uint64_t record_bytes(uint64_t payload) {
  return (header_bytes + payload + alignment - 1) / alignment * alignment;
}

static_assert(kind_of(make_header(record_kind::control, 40, 4095, 0x1ffff))
              == record_kind::control);
static_assert(!is_free(make_header(record_kind::control, ~0u, 4095, ~0u)));

} // namespace record

struct ring_control {
  /// Next position the consumer reads. Written by the consumer only, once
  /// per batch (release, after re-tagging the consumed words); producers
  /// acquire it.
  alignas(cache_line) std::atomic<uint64_t> head; // 0
  /// Hint of the next free position; producers CAS it forward.
  alignas(cache_line) std::atomic<uint64_t> tail; // 64
  /// Producers' copy of `head`, on the line they write anyway: they read the
  /// consumer's line only when the copy says the ring is full (Aeron's head
  /// cache), so a stream does not bounce that line once per message.
  std::atomic<uint64_t> head_cache; // 72
  /// Futex word: 1 while the consumer is parked. Producers that commit and
  /// find 1 swap it to 0 and wake; the consumer sleeps on this very word, so
  /// a wake-up between its announcement and its sleep is never lost.
  alignas(cache_line) std::atomic<uint32_t> consumer_parked; // 128
  /// Futex word bumped by the consumer when it frees space and producers
  /// wait for space (`space_waiters` > 0).
  alignas(cache_line) std::atomic<uint32_t> space_seq; // 192
  std::atomic<uint32_t> space_waiters; // 196
  /// Set once the buffer holds free tags (done by the slot's first owner).
  alignas(cache_line) std::atomic<uint32_t> initialized; // 256
};

constexpr uint32_t ring_initialized_magic = 0x52494e47; // "RING"

static_assert(sizeof(ring_control) <= ring_control_bytes);
static_assert(offsetof(ring_control, head) == 0);
static_assert(offsetof(ring_control, tail) == 64);
static_assert(offsetof(ring_control, head_cache) == 72);
static_assert(offsetof(ring_control, consumer_parked) == 128);
static_assert(offsetof(ring_control, space_seq) == 192);
static_assert(offsetof(ring_control, space_waiters) == 196);
static_assert(offsetof(ring_control, initialized) == 256);

} // namespace shmbus::transport
