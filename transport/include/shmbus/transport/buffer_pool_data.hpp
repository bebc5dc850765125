// The buffer pool's shared memory: blocks of a few size classes that actors
// fill once and pass between processes by handle (buffer_pool.hpp holds the
// algorithms). Everything here is plain atomic words; a process killed at
// any instruction leaves nothing that needs it.
//
//  pool offset (from segment_header::pool_offset, page aligned)
//  ------------------  -----------------------------------  ----------------------
//  0                   4096                                 pool_header
//  descriptors_offset  total_blocks * 16                    block_descriptor[]
//  holders_offset      node_slots * holder_stride           per node slot: holder_list_header (64)
//                                                           then holder_entry[holder_entries] (16 each)
//  data_offset         per class: blocks * block_bytes      block data, class after class
//
// Size classes are 4 KiB * 4^k up to pool_max_block; each class gets an
// equal share of pool_bytes (pool_geometry()). Offsets above are relative to
// the pool's start and page aligned.
//
// Ownership is kept per holder (DESIGN.md, "Shared buffers"): a block's
// word counts references, and every reference is an entry in some node
// slot's holder list, so that the references of a lost node can be found
// and dropped. A reference changes hands under the block's `busy` field (a
// lock held for three stores, by slot + 1); the entry is written while the
// lock is held and says what the holder was doing, so whoever handles a
// lost holder can tell whether the count already includes its step:
//
//   entry state   block busy by its actor   count includes the entry's reference
//   adding        yes                       no   (the increment is the unlock)
//   adding        no                        yes
//   removing      yes                       yes  (the decrement is the unlock)
//   removing      no                        no
//   held          -                         yes
//   inflight      -                         yes  (owned by its destination)
//   claimed       -                         no   (its block word is not written yet)
//
// Trust: any process of the bus can write any of these words. Indexes and
// generations are checked against the geometry every process computes for
// itself; a count that would go below zero is reported, never wrapped.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "shmbus/transport/config.hpp"
#include "shmbus/transport/segment_layout.hpp"

namespace shmbus::transport {

// -- the block word: state 2 bits | busy 13 bits | count 16 bits | generation 32 bits
enum class block_state : uint32_t {
  free = 0,
  writable = 1, ///< allocated, its first holder fills it
  sealed = 2,   ///< frozen: readable by every holder, written by none
};
constexpr uint64_t block_busy_shift = 2;
constexpr uint64_t block_busy_mask = 0x1fff;  // slot + 1 of the lock holder, 0: unlocked
constexpr uint64_t block_count_shift = 15;
constexpr uint64_t block_count_mask = 0xffff;
constexpr uint32_t block_max_count = 0xffff;
constexpr uint64_t block_generation_shift = 32;
static_assert(limits::max_node_slots + 1 <= block_busy_mask, "busy holds slot + 1");

constexpr uint64_t make_block_word(block_state s, uint32_t busy, uint32_t count,
                                   uint32_t generation) {
  return uint64_t{static_cast<uint32_t>(s)} | (uint64_t{busy} << block_busy_shift)
         | (uint64_t{count} << block_count_shift)
         | (uint64_t{generation} << block_generation_shift);
}
constexpr block_state block_state_of(uint64_t w) { return static_cast<block_state>(w & 3); }
constexpr uint32_t block_busy_of(uint64_t w) {
  return static_cast<uint32_t>((w >> block_busy_shift) & block_busy_mask);
}
constexpr uint32_t block_count_of(uint64_t w) {
  return static_cast<uint32_t>((w >> block_count_shift) & block_count_mask);
}
constexpr uint32_t block_generation_of(uint64_t w) {
  return static_cast<uint32_t>(w >> block_generation_shift);
}

struct block_descriptor {
  std::atomic<uint64_t> word;   // 0: make_block_word(...)
  /// Bytes the writer filled (informative: handles carry their own size).
  std::atomic<uint64_t> size;   // 8
};
static_assert(sizeof(block_descriptor) == 16);

// -- holder entries: meta = state 4 bits | slot 13 bits | incarnation 32 bits (bits 32..63)
//    block = index (low 32 bits) | generation (high 32 bits)
enum class entry_state : uint32_t {
  empty = 0,
  adding = 1,   ///< slot/incarnation: the actor taking the reference
  removing = 2, ///< slot/incarnation: the actor dropping it
  held = 3,     ///< slot/incarnation: the holder (the list's owner)
  inflight = 4, ///< slot/incarnation: the destination that will adopt it
  claimed = 5,  ///< slot/incarnation: the owner, about to write it; counts nothing
};
constexpr uint64_t make_entry_meta(entry_state s, uint32_t slot, uint32_t incarnation) {
  return uint64_t{static_cast<uint32_t>(s)} | (uint64_t{slot & 0x1fff} << 4)
         | (uint64_t{incarnation} << 32);
}
constexpr entry_state entry_state_of(uint64_t m) { return static_cast<entry_state>(m & 0xf); }
constexpr uint32_t entry_slot_of(uint64_t m) { return static_cast<uint32_t>((m >> 4) & 0x1fff); }
constexpr uint32_t entry_incarnation_of(uint64_t m) { return static_cast<uint32_t>(m >> 32); }
constexpr uint64_t make_entry_block(uint32_t index, uint32_t generation) {
  return uint64_t{index} | (uint64_t{generation} << 32);
}

struct holder_entry {
  /// Written after `block` (release); readers acquire-load it first.
  std::atomic<uint64_t> meta;   // 0
  std::atomic<uint64_t> block;  // 8
};
static_assert(sizeof(holder_entry) == 16);

struct alignas(cache_line) holder_list_header {
  /// Incarnation of the node that last took this slot's list (for tools).
  std::atomic<uint32_t> incarnation;  // 0
  std::atomic<uint32_t> reserved0;    // 4
  std::atomic<uint64_t> reserved1[7]; // 8
};
static_assert(sizeof(holder_list_header) == 64);

struct pool_header {
  uint32_t class_count;                           // 0
  uint32_t holder_entries;                        // 4
  uint64_t descriptors_offset;                    // 8
  uint64_t holders_offset;                        // 16
  uint64_t data_offset;                           // 24
  uint32_t total_blocks;                          // 32
  uint32_t reserved0;                             // 36
  pool_class_info classes[pool_max_classes];      // 40
  /// Where each class's next allocation starts looking (a hint).
  alignas(cache_line) std::atomic<uint32_t> next_block[pool_max_classes]; // 320
  // -- counters, written by any process ---------------------------------------
  alignas(cache_line) std::atomic<uint64_t> allocations;      // 384
  std::atomic<uint64_t> exhausted;                            // 392: allocations refused
  std::atomic<uint64_t> refused_handles;                      // 400: forged or stale handles
  std::atomic<uint64_t> corrupt_words;                        // 408: impossible words seen
  std::atomic<uint64_t> released_for_lost;                    // 416: references of lost holders dropped
};
static_assert(offsetof(pool_header, classes) == 40);
static_assert(offsetof(pool_header, next_block) == 320);
static_assert(offsetof(pool_header, allocations) == 384);
static_assert(sizeof(pool_header) <= page_bytes);
static_assert(std::is_standard_layout_v<pool_header>);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

} // namespace shmbus::transport
