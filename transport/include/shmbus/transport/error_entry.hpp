// The distinct-error log (shared memory), after Aeron's ErrorStat: one
// entry per distinct error (kind and text) that a node of the bus reported,
// with how often, when first and last, and who. Entries outlive the node
// that reported them (that is the point: `shmbusctl errors` after the
// fact); they are never freed while the segment lives.
//
// An entry is claimed with one CAS of its state word from free to
// `writing` (owner slot and incarnation, encoded as a name_entry's), filled,
// then published `valid` with a release store; from then on only count,
// last_unix_ns and last_pid change (each an atomic word). An entry left in
// `writing` by a claimer that died may be claimed again. Readers copy only
// valid entries and check the state word again afterwards.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "shmbus/transport/atomic_text.hpp"
#include "shmbus/transport/name_entry.hpp"
#include "shmbus/transport/segment_layout.hpp"

namespace shmbus::transport {

/// At the start of the error log region.
struct error_log_header {
  /// Reports of new errors that found no free entry.
  std::atomic<uint64_t> dropped;          // 0
  std::atomic<uint64_t> reserved[7];      // 8
};

constexpr size_t error_kind_bytes = 64;
constexpr size_t error_node_bytes = 64;
constexpr size_t error_text_bytes = 320;

struct error_entry {
  std::atomic<uint64_t> state;            // 0: make_name_state(state, claimer slot, incarnation)
  std::atomic<uint64_t> hash;             // 8: FNV-1a of kind and text
  std::atomic<uint64_t> count;            // 16
  std::atomic<int64_t> first_unix_ns;     // 24
  std::atomic<int64_t> last_unix_ns;      // 32
  std::atomic<int32_t> first_pid;         // 40
  std::atomic<int32_t> last_pid;          // 44
  std::atomic<uint64_t> reserved[2];      // 48
  atomic_text<error_kind_bytes> kind;     // 64: e.g. "malformed/message"
  atomic_text<error_node_bytes> node;     // 128: name of the first reporter
  atomic_text<error_text_bytes> text;     // 192
};

static_assert(sizeof(error_log_header) == error_log_header_bytes);
static_assert(sizeof(error_entry) == error_entry_bytes);
static_assert(offsetof(error_entry, kind) == 64);
static_assert(offsetof(error_entry, text) == 192);
static_assert(std::is_standard_layout_v<error_entry>);

} // namespace shmbus::transport
