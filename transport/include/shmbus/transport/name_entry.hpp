// One entry of the published-name table (shared memory). An entry belongs
// to the node incarnation named in its state word; it stops counting the
// moment that incarnation is no longer alive, so a crashed publisher never
// leaves a name behind.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "shmbus/transport/atomic_text.hpp"
#include "shmbus/transport/segment_layout.hpp"

namespace shmbus::transport {

enum class name_entry_state : uint32_t { free = 0, writing = 1, valid = 2 };

/// Owner slot bits of a name entry's state word.
constexpr uint32_t name_owner_slot_mask = 0xfff;
static_assert(limits::max_node_slots <= name_owner_slot_mask + 1,
              "every slot number fits a name entry's owner field");

/// State word: state (2 bits) << 62 | owner slot (12 bits) << 32 | incarnation.
constexpr uint64_t make_name_state(name_entry_state s, uint32_t slot,
                                   uint32_t incarnation) {
  return (uint64_t{static_cast<uint32_t>(s)} << 62)
         | (uint64_t{slot & name_owner_slot_mask} << 32) | incarnation;
}
constexpr name_entry_state name_state_of(uint64_t w) {
  return static_cast<name_entry_state>(w >> 62);
}
constexpr uint32_t name_owner_slot(uint64_t w) {
  return static_cast<uint32_t>(w >> 32) & name_owner_slot_mask;
}
constexpr uint32_t name_owner_incarnation(uint64_t w) {
  return static_cast<uint32_t>(w);
}

struct name_entry {
  std::atomic<uint64_t> state;  // 0
  std::atomic<uint64_t> value;  // 8: e.g. an actor id
  std::atomic<uint64_t> aux;    // 16: e.g. an interface fingerprint
  /// Bumped by every writer: readers copy the fields between two loads of
  /// state and version and retry if either changed (a seqlock).
  std::atomic<uint64_t> version;  // 24
  std::atomic<uint64_t> reserved[4]; // 32
  atomic_text<name_field_bytes> name; // 64
};

static_assert(sizeof(name_entry) == name_entry_bytes);
static_assert(offsetof(name_entry, name) == 64);
static_assert(decltype(name_entry::name)::capacity == limits::max_name_length);
static_assert(std::is_standard_layout_v<name_entry>);

} // namespace shmbus::transport
