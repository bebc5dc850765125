// The binary layout of a bus segment. Every process of a bus maps the same
// segment, possibly built by another version of shmbus, so this file is the
// contract: change anything here and bump `layout_version`. Two tests fail
// until you do: tests/unit/transport/segment_layout_test.cpp reads the
// offsets and encodings documented in this file, node_slot.hpp,
// name_entry.hpp, inbox_ring_data.hpp, supervision_entry.hpp,
// error_entry.hpp, buffer_pool_data.hpp and group_summary_entry.hpp and
// compares them with the code;
// segment_image_test.cpp compares a segment written by this build with the
// golden image of its layout version (tests/unit/transport/golden/).
//
//  offset              size                        content
//  ------------------  --------------------------  -------------------------------
//  0                   4096                        segment_header
//  node_table_offset   node_slots * 512            node_slot[node_slots]
//  name_table_offset   name_entries * 128          name_entry[name_entries]
//  rings_offset        node_slots * ring_stride    per node: ring_control (4096)
//                                                  then inbox buffer (inbox_bytes)
//  supervision_offset  supervision_entries * 512   supervision_entry[supervision_entries]
//  error_log_offset    64                          error_log_header
//                      error_entries * 512         error_entry[error_entries]
//  pool_offset         pool_region_bytes           the buffer pool (buffer_pool_data.hpp),
//                                                  absent when pool_bytes is 0
//  group_summary_offset node_slots * 64 * 128      per node: group_summary_entry[64]
//                                                  (group_rows_per_node rows)
//
// All offsets are page aligned. The segment holds no pointers, no mutexes and
// no allocator: a process killed at any instruction leaves nothing locked.
// It is a sealed memfd (segment.hpp): its size never changes.
// `magic` (offset 0) and `layout_version` (offset 8) never move, so any build
// can tell which layout a segment has.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "shmbus/transport/atomic_text.hpp"
#include "shmbus/transport/config.hpp"

namespace shmbus::transport {

constexpr uint64_t segment_magic = 0x3130'5355'424d'4853; // "SHMBUS01"
constexpr uint32_t layout_version = 4;
constexpr size_t page_bytes = 4096;
/// Hot atomics written by different parties get a line of their own.
constexpr size_t cache_line = 64;

constexpr uint64_t align_up(uint64_t x, uint64_t alignment) {
  return (x + alignment - 1) / alignment * alignment;
}

/// Text and opaque fields, sized by the limits they hold: a text keeps a
/// terminating zero, every field is whole 8-byte words.
constexpr size_t name_field_bytes = limits::max_name_length + 1;
constexpr size_t user_data_field_bytes = limits::max_user_data_bytes;
constexpr size_t bus_name_field_bytes = align_up(limits::max_bus_name_length + 1, 8);

static_assert(name_field_bytes % 8 == 0 && user_data_field_bytes % 8 == 0,
              "atomic_text and atomic_bytes are made of whole words");

struct segment_header {
  uint64_t magic;                          // 0
  /// Written last by the creator (release); attachers acquire-load it and
  /// refuse any other value: a zero means "still being created".
  std::atomic<uint32_t> layout_version;    // 8
  uint32_t header_bytes;                   // 12
  uint64_t segment_bytes;                  // 16
  uint32_t node_slots;                     // 24
  uint32_t inbox_bytes;                    // 28
  uint32_t max_message_bytes;              // 32
  uint32_t name_entries;                   // 36
  uint64_t node_table_offset;              // 40
  uint64_t name_table_offset;              // 48
  uint64_t rings_offset;                   // 56
  uint64_t ring_stride;                    // 64
  int64_t heartbeat_interval_ns;           // 72
  int64_t heartbeat_timeout_ns;            // 80
  int32_t creator_pid;                     // 88
  /// segment_flag_* bits, fixed by the creator.
  uint32_t flags;                          // 92
  int64_t created_unix_ns;                 // 96
  char bus_name[bus_name_field_bytes];     // 104
  /// Bumped (and futex-woken) when a node joins or leaves; watchers and
  /// tools use it to notice membership changes.
  alignas(cache_line) std::atomic<uint32_t> membership_epoch; // 192
  /// Bumped (and futex-woken) on every publish/unpublish: waiting lookups
  /// park on it.
  alignas(cache_line) std::atomic<uint32_t> names_epoch;      // 256
  /// The observability tables at the end of the segment.
  alignas(cache_line) uint64_t supervision_offset;            // 320
  uint64_t error_log_offset;                                  // 328
  uint32_t supervision_entries;                               // 336
  uint32_t error_entries;                                     // 340
  /// The buffer pool (pool_geometry); pool_region_bytes 0: no pool.
  uint64_t pool_offset;                                       // 344
  uint64_t pool_bytes;                                        // 352
  uint64_t pool_max_block;                                    // 360
  uint64_t pool_region_bytes;                                 // 368
  uint32_t pool_holder_entries;                               // 376
  /// The group summary (group_summary_entry.hpp), group_rows_per_node
  /// rows per node slot.
  uint64_t group_summary_offset;                              // 384
  uint32_t group_rows_per_node;                               // 392
};

/// Every record carries a CRC32C that its consumer checks (inbox_ring_data.hpp).
constexpr uint32_t segment_flag_checksums = 1;
/// Flags this build knows; a segment with others is of another layout.
constexpr uint32_t segment_known_flags = segment_flag_checksums;

static_assert(offsetof(segment_header, magic) == 0);
static_assert(offsetof(segment_header, layout_version) == 8);
static_assert(offsetof(segment_header, bus_name) == 104);
static_assert(offsetof(segment_header, membership_epoch) == 192);
static_assert(offsetof(segment_header, names_epoch) == 256);
static_assert(offsetof(segment_header, supervision_offset) == 320);
static_assert(offsetof(segment_header, pool_offset) == 344);
static_assert(offsetof(segment_header, pool_holder_entries) == 376);
static_assert(offsetof(segment_header, group_summary_offset) == 384);
static_assert(sizeof(segment_header::bus_name) > limits::max_bus_name_length,
              "the bus name keeps a terminating zero");
static_assert(sizeof(segment_header) <= page_bytes);
static_assert(std::is_standard_layout_v<segment_header>);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

/// Smallest size class; the others are 4^k times larger.
constexpr uint64_t pool_min_block = 4096;
constexpr uint32_t pool_max_classes = 10;

struct pool_class_info {
  uint64_t block_bytes;   // 0
  uint64_t data_offset;   // 8: from the pool's start
  uint32_t blocks;        // 16
  uint32_t first_block;   // 20: global index of its first block
};
static_assert(sizeof(pool_class_info) == 24);

/// Where everything of a pool lies, computed from the limits alone.
struct pool_geometry {
  uint32_t class_count = 0;
  pool_class_info classes[pool_max_classes] = {};
  uint32_t total_blocks = 0;
  uint32_t holder_entries = 0;
  uint64_t descriptors_offset = 0;
  uint64_t holders_offset = 0;
  uint64_t holder_stride = 0;
  uint64_t data_offset = 0;
  uint64_t pool_bytes = 0; ///< the whole region; 0: no pool
};

constexpr pool_geometry compute_pool_geometry(const bus_limits& l) {
  pool_geometry g{};
  if (l.pool_bytes == 0)
    return g;
  uint64_t size = pool_min_block;
  while (size <= l.pool_max_block && g.class_count < pool_max_classes) {
    g.classes[g.class_count++].block_bytes = size;
    size *= 4;
  }
  uint64_t share = g.class_count == 0 ? 0 : l.pool_bytes / g.class_count;
  for (uint32_t c = 0; c < g.class_count; ++c) {
    g.classes[c].blocks = static_cast<uint32_t>(share / g.classes[c].block_bytes);
    g.classes[c].first_block = g.total_blocks;
    g.total_blocks += g.classes[c].blocks;
  }
  g.holder_entries = l.pool_holder_entries;
  g.descriptors_offset = page_bytes;
  g.holders_offset = align_up(g.descriptors_offset + uint64_t{g.total_blocks} * 16, page_bytes);
  g.holder_stride = 64 + uint64_t{l.pool_holder_entries} * 16;
  g.data_offset = align_up(g.holders_offset + uint64_t{l.node_slots} * g.holder_stride,
                           page_bytes);
  uint64_t at = g.data_offset;
  for (uint32_t c = 0; c < g.class_count; ++c) {
    g.classes[c].data_offset = at;
    at += uint64_t{g.classes[c].blocks} * g.classes[c].block_bytes;
  }
  g.pool_bytes = align_up(at, page_bytes);
  return g;
}

/// Offsets and sizes of a segment, computed from its limits.
struct segment_geometry {
  uint64_t node_table_offset;
  uint64_t name_table_offset;
  uint64_t rings_offset;
  uint64_t ring_stride;
  uint64_t supervision_offset;
  uint64_t error_log_offset;
  uint64_t pool_offset;
  pool_geometry pool;
  uint64_t group_summary_offset;
  uint64_t segment_bytes;
};

/// Sizes of the per-node structures (pinned by the layout test).
constexpr size_t node_slot_bytes = 512;
constexpr size_t name_entry_bytes = 128;
constexpr size_t ring_control_bytes = page_bytes;
constexpr size_t supervision_entry_bytes = 512;
constexpr size_t error_log_header_bytes = 64;
constexpr size_t error_entry_bytes = 512;
constexpr size_t group_summary_entry_bytes = 128;
/// Groups one process can show to tools (64 rows: 8 KiB per node slot); a
/// process in more groups shows the first ones and says so in its log.
constexpr uint32_t group_rows_per_node = 64;

constexpr segment_geometry compute_geometry(const bus_limits& l) {
  segment_geometry g{};
  g.node_table_offset = page_bytes;
  g.name_table_offset
    = align_up(g.node_table_offset + uint64_t{l.node_slots} * node_slot_bytes,
               page_bytes);
  g.rings_offset = align_up(g.name_table_offset
                              + uint64_t{l.name_entries} * name_entry_bytes,
                            page_bytes);
  g.ring_stride = align_up(ring_control_bytes + l.inbox_bytes, page_bytes);
  g.supervision_offset = g.rings_offset + uint64_t{l.node_slots} * g.ring_stride;
  g.error_log_offset = align_up(g.supervision_offset
                                  + uint64_t{l.supervision_entries} * supervision_entry_bytes,
                                page_bytes);
  g.pool_offset = align_up(g.error_log_offset + error_log_header_bytes
                             + uint64_t{l.error_entries} * error_entry_bytes,
                           page_bytes);
  g.pool = compute_pool_geometry(l);
  g.group_summary_offset = g.pool_offset + g.pool.pool_bytes;
  g.segment_bytes = g.group_summary_offset
                    + uint64_t{l.node_slots} * group_rows_per_node * group_summary_entry_bytes;
  return g;
}

} // namespace shmbus::transport
