// The buffer pool's algorithms (its shared memory: buffer_pool_data.hpp):
// taking a block, handing a reference to another node, adopting one, and
// dropping the references of a lost node. The crash rules are written next
// to the data; every step here writes its entry (the intent) while it holds
// the block's lock and before the count changes, so a lost holder's step
// can be finished by whoever handles its loss (release_holder()).
//
// A handle that crosses the ring names the sender's entry that carries the
// in-flight reference; the receiver adopts it only if that entry still says
// "in flight to me" with the same block and generation. Anything else is
// refused and counted (pool_header::refused_handles): a process can neither
// read outside the pool nor free a block through someone else's handle.
//
// The pool maps the pool's region of the segment's memfd for itself, so a
// buffer may outlive the node that made it (its bytes stay readable; its
// references are dropped when the node's loss is handled).
//
// Threads: every method may be called from any thread at once. Steps on one
// block wait for each other at most defaults::pool_lock_timeout (the
// holder of a block's lock does three stores); nothing else waits.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "shmbus/transport/buffer_pool_data.hpp"
#include "shmbus/transport/error.hpp"
#include "shmbus/transport/segment.hpp"

namespace shmbus::transport {

/// One reference this process holds: its entry in the own holder list.
struct buffer_ref {
  uint32_t block = 0;
  uint32_t generation = 0;
  uint32_t entry = 0;
  std::byte* data = nullptr;
  uint64_t size = 0;     ///< bytes of the buffer
  uint64_t capacity = 0; ///< bytes of its block
};

/// What crosses a ring: the sender's in-flight entry and what it must say.
struct buffer_handle {
  uint32_t block = 0;
  uint32_t generation = 0;
  uint32_t sender_slot = 0;
  uint32_t entry = 0;
  uint64_t size = 0;
};

/// Pool use, for tools (a snapshot, untrusted words counted as they read).
struct pool_usage {
  struct size_class {
    uint64_t block_bytes = 0;
    uint32_t blocks = 0;
    uint32_t used = 0;
  };
  struct holder {
    uint32_t slot = 0;
    uint32_t held = 0;     ///< references it holds (held, adding, removing)
    uint32_t inflight = 0; ///< references it sent that no one adopted yet
  };
  uint64_t pool_bytes = 0;
  std::vector<size_class> classes;
  std::vector<holder> holders; ///< slots with any entry
  uint64_t allocations = 0;
  uint64_t exhausted = 0;
  uint64_t refused_handles = 0;
  uint64_t corrupt_words = 0;
  uint64_t released_for_lost = 0;

  /// Blocks in use over every class.
  uint32_t used_blocks() const noexcept;
};

class buffer_pool {
public:
  /// Whether (slot, incarnation) is a live node, for release_holder().
  using alive_fn = std::function<bool(uint32_t slot, uint32_t incarnation)>;

  /// Maps the pool of `seg` for the node (slot, incarnation). Fails if the
  /// bus has no pool or the mapping fails. Never blocks.
  static result<std::shared_ptr<buffer_pool>> open(const segment& seg, uint32_t slot,
                                                   uint32_t incarnation);

  ~buffer_pool();
  buffer_pool(const buffer_pool&) = delete;
  buffer_pool& operator=(const buffer_pool&) = delete;

  /// The node took a new incarnation (rejoin): references from now on are
  /// that incarnation's. Any thread.
  void set_incarnation(uint32_t incarnation) noexcept {
    incarnation_.store(incarnation, std::memory_order_release);
  }

  uint64_t max_block() const noexcept;
  uint64_t pool_bytes() const noexcept { return limit_bytes_; }

  /// A writable block of at least `size` bytes, held by this node.
  /// pool_exhausted when every block that large is in use, holder_list_full
  /// when this node holds pool_holder_entries references already.
  result<buffer_ref> allocate(uint64_t size) noexcept;

  /// Freezes the block: receivers adopt only sealed blocks.
  error seal(const buffer_ref& ref) noexcept;

  /// Adds a reference in flight to (slot, incarnation), carried by a new
  /// entry of this node; the handle names it.
  result<buffer_handle> export_to(const buffer_ref& ref, uint32_t to_slot,
                                  uint32_t to_incarnation) noexcept;

  /// Drops an in-flight reference whose message was not sent.
  void cancel_export(const buffer_handle& h) noexcept;

  /// Takes a reference of this node for the in-flight reference `h` names
  /// (then drops that one). invalid_handle for anything that is not a
  /// sealed block in flight to this node.
  result<buffer_ref> adopt(const buffer_handle& h) noexcept;

  /// Drops a reference this node holds; the last one frees the block.
  void release(const buffer_ref& ref) noexcept;

  /// Drops every reference of the lost node (slot, incarnation): the ones
  /// it held, the ones in flight to it, and the ones it had in flight to
  /// nodes `alive` says are gone; finishes any step it died in. Idempotent,
  /// and safe while other nodes do the same. Returns how many it dropped.
  /// Waits up to defaults::pool_lock_timeout per block it had locked.
  size_t release_holder(uint32_t slot, uint32_t incarnation, const alive_fn& alive) noexcept;

  /// Pool use as this process's mapping shows it. Never blocks.
  pool_usage usage() const;

  /// Pool use of `seg` (any mapping, also read-only). Never blocks.
  static pool_usage usage(const segment& seg);

private:
  buffer_pool(std::byte* base, const pool_geometry& g, uint32_t node_slots, uint32_t slot,
              uint32_t incarnation, uint64_t limit_bytes, std::string bus);

  static pool_usage read_usage(const std::byte* base, const pool_geometry& g,
                               uint32_t node_slots, uint64_t limit_bytes);

  pool_header& header() const noexcept;
  block_descriptor& descriptor(uint32_t block) const noexcept;
  holder_list_header& entry_header(uint32_t slot) const noexcept;
  holder_entry& entry(uint32_t slot, uint32_t index) const noexcept;
  /// Class of a block index < total_blocks.
  uint32_t class_of(uint32_t block) const noexcept;
  std::byte* data_of(uint32_t block) const noexcept;

  /// Claims an empty entry of this node's list (state `claimed`).
  result<uint32_t> claim_entry() noexcept;
  /// Takes block's lock for `busy` (slot + 1) while it is (generation, not
  /// free); returns the word it locked.
  result<uint64_t> lock(uint32_t block, uint32_t generation, uint32_t busy) noexcept;
  /// Releases the lock with the count changed by `delta`; a count of zero
  /// frees the block.
  void unlock(uint32_t block, int delta) noexcept;
  /// Claims `e` (its meta still `seen`) and drops the reference it carries.
  bool drop_entry(holder_entry& e, uint64_t seen) noexcept;
  void finish_stale_lock(uint32_t block, uint32_t slot, uint32_t incarnation) noexcept;
  error refuse(std::string what) noexcept;

  std::byte* base_;
  pool_geometry geometry_;
  uint32_t node_slots_;
  uint32_t slot_;
  std::atomic<uint32_t> incarnation_;
  uint64_t limit_bytes_;
  std::string bus_;
};

} // namespace shmbus::transport
