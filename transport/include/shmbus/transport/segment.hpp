// A mapping of a bus segment: creation with its fixed layout, attachment
// with validation of everything the header claims, typed access to the
// node table, name table, inbox rings, supervision table, error log and
// group summary.
//
// The segment is a memfd, not a file: sized, committed (fallocate: a machine
// without the memory refuses at creation, not with SIGBUS later) and sealed
// against shrinking and growing, so no process can truncate it under the
// others' mappings. Nothing of it appears in /dev/shm. Processes get it from
// each other: every node of the bus accepts on the Unix socket
// /dev/shm/shmbus-<bus>.sock and passes the memfd with SCM_RIGHTS
// (segment_handout.hpp); while any process of the bus lives, joiners and
// tools get the segment; when all are gone, connecting is refused (a stale
// bus). The mapping itself is a Boost.Interprocess mapped_region; creating
// and passing the memfd use the kernel directly, since Boost.Interprocess
// has no memfd and no seals.
//
// Threads: the static functions and the const accessors may be called from
// any thread; moving a segment is not thread-safe. What the accessors
// return lives in shared memory: every word read from it is untrusted (see
// segment_layout.hpp).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "shmbus/transport/config.hpp"
#include "shmbus/transport/error.hpp"
#include "shmbus/transport/error_entry.hpp"
#include "shmbus/transport/group_summary_entry.hpp"
#include "shmbus/transport/inbox_ring.hpp"
#include "shmbus/transport/name_entry.hpp"
#include "shmbus/transport/node_slot.hpp"
#include "shmbus/transport/segment_layout.hpp"
#include "shmbus/transport/supervision_entry.hpp"

namespace boost::interprocess {
class mapped_region;
} // namespace boost::interprocess

namespace shmbus::transport {

/// How segment::attach maps a live bus.
struct attach_options {
  /// How long to wait for a process of the bus to hand the segment out.
  std::chrono::nanoseconds timeout = defaults::attach_timeout;
  /// Map without write access (tools that only look).
  bool read_only = false;
  /// Keep the bus's listening socket (handout_fd()) to serve joiners too:
  /// what node_membership does. Tools leave it, so that a bus whose
  /// processes all died is refused at once, not after `timeout`.
  bool keep_handout = false;
};

/// Sizes, timing and options of a bus, fixed by its server at creation.
struct segment_params {
  bus_limits limits;
  liveness_timing timing;
  /// Permission bits of the hand-out socket (and of the lock file).
  unsigned file_mode = defaults::file_mode;
  /// CRC32C per record (segment_flag_checksums).
  bool checksums = defaults::checksums;
};

class segment {
public:
  segment();
  segment(segment&&) noexcept;
  segment& operator=(segment&&) noexcept;
  ~segment();

  /// Returns an error unless `l` describes a usable bus. Pure.
  static std::optional<error> validate_limits(const bus_limits& l);

  /// Creates the segment of `bus` (a sealed memfd) and its listening
  /// socket, replacing a stale socket file of ours. The caller holds the
  /// server and members locks, so no process of an older bus of that name
  /// lives. The layout version is written last. Never blocks (fallocate of
  /// the whole segment takes a few ms per 100 MiB).
  static result<segment> create(std::string_view bus, const segment_params& p);

  /// Gets the segment of the live bus `bus` from one of its processes and
  /// maps it after validating its seals, size and header. A process in
  /// another PID namespace, or of another user, is refused.
  /// @warning Blocks the caller up to `opts.timeout` (a hung bus).
  static result<segment> attach(std::string_view bus, attach_options opts = {});

  /// Maps `memfd` (a segment received some other way; the caller keeps its
  /// descriptor) and validates it exactly as attach() does. `bus` names it
  /// in messages. Never blocks.
  static result<segment> attach_memfd(int memfd, std::string_view bus, bool read_only);

  /// Removes the bus's socket file (the lock file is bus_lock's).
  /// Mappings and accepting processes are not affected. Never blocks.
  static void unlink(std::string_view bus) noexcept;

  /// Whether /dev/shm holds the socket file of `bus` (a snapshot).
  static bool exists(std::string_view bus) noexcept;

  /// Typed views of the mapping; indexes are not checked (i < node_slots()).
  segment_header& header() const noexcept { return *header_; }
  node_slot& slot(uint32_t i) const noexcept;
  name_entry& name(uint32_t i) const noexcept;
  inbox_ring ring(uint32_t i) const noexcept;
  supervision_entry& supervision(uint32_t i) const noexcept;
  error_log_header& error_log() const noexcept;
  error_entry& error_at(uint32_t i) const noexcept;
  /// Row `i` (< group_rows_per_node) of node slot `slot`'s group summary.
  group_summary_entry& group_row(uint32_t slot, uint32_t i) const noexcept;
  /// The buffer pool's region (buffer_pool_data.hpp); null without a pool.
  std::byte* pool_base() const noexcept;
  /// Where the pool's parts lie (validated, never re-read).
  const pool_geometry& pool() const noexcept { return geometry_.pool; }
  /// Offset of the pool's region in the memfd.
  uint64_t pool_offset() const noexcept { return geometry_.pool_offset; }

  /// Validated copies taken at creation or attachment, never re-read.
  const bus_limits& limits() const noexcept { return limits_; }
  const liveness_timing& timing() const noexcept { return timing_; }
  uint32_t node_slots() const noexcept { return limits_.node_slots; }
  bool checksums() const noexcept { return checksums_; }
  const std::string& bus() const noexcept { return bus_; }
  uint64_t size_bytes() const noexcept { return geometry_.segment_bytes; }

  /// The memfd (owned by this object; -1 for a moved-from segment).
  int memfd() const noexcept { return memfd_; }

  /// The listening hand-out socket, if this object has one (create(), or
  /// attach() with keep_handout), else -1; owned by this object.
  int handout_fd() const noexcept { return handout_; }

  /// Closes the hand-out socket: this process no longer serves joiners.
  void close_handout() noexcept;

private:
  /// Maps all of `memfd`; validates nothing.
  error map_region(int memfd, std::string_view bus, bool read_only);

  std::unique_ptr<boost::interprocess::mapped_region> region_;
  segment_header* header_ = nullptr;
  std::byte* base_ = nullptr;
  int memfd_ = -1;
  int handout_ = -1;
  // Validated copies: offsets are never re-read from shared memory.
  segment_geometry geometry_{};
  bus_limits limits_;
  liveness_timing timing_;
  bool checksums_ = false;
  std::string bus_;
};

} // namespace shmbus::transport
