// A mapping of a bus segment: creation with its fixed layout, attachment
// with validation of everything the header claims, typed access to the
// node table, name table, inbox rings, supervision table and error log.
//
// Nothing here waits: creation and attachment are a few system calls
// (shm_open, ftruncate, mmap). Threads: the static functions and the const
// accessors may be called from any thread; moving a segment is not
// thread-safe. What the accessors return lives in shared memory: every word
// read from it is untrusted (see segment_layout.hpp).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "shmbus/transport/config.hpp"
#include "shmbus/transport/error.hpp"
#include "shmbus/transport/error_entry.hpp"
#include "shmbus/transport/inbox_ring.hpp"
#include "shmbus/transport/name_entry.hpp"
#include "shmbus/transport/node_slot.hpp"
#include "shmbus/transport/segment_layout.hpp"
#include "shmbus/transport/supervision_entry.hpp"

namespace boost::interprocess {
class mapped_region;
} // namespace boost::interprocess

namespace shmbus::transport {

class segment {
public:
  segment();
  segment(segment&&) noexcept;
  segment& operator=(segment&&) noexcept;
  ~segment();

  /// Returns an error unless `l` describes a usable bus. Pure.
  static std::optional<error> validate_limits(const bus_limits& l);

  /// Creates the segment of `bus`, replacing an existing object of that
  /// name. The caller holds the server and members locks, so nobody else
  /// uses the old one. The layout version is written last.
  static result<segment> create(std::string_view bus, const bus_limits& l,
                                const liveness_timing& timing,
                                unsigned file_mode);

  /// Maps the existing segment of `bus` and validates its header. A segment
  /// still being created reports layout_mismatch with version 0: retry.
  static result<segment> attach(std::string_view bus);

  /// Removes the segment object's name (mappings stay valid).
  static void unlink(std::string_view bus) noexcept;

  /// Whether /dev/shm holds a segment of `bus` (a snapshot).
  static bool exists(std::string_view bus) noexcept;

  /// Typed views of the mapping; indexes are not checked (i < node_slots()).
  segment_header& header() const noexcept { return *header_; }
  node_slot& slot(uint32_t i) const noexcept;
  name_entry& name(uint32_t i) const noexcept;
  inbox_ring ring(uint32_t i) const noexcept;
  supervision_entry& supervision(uint32_t i) const noexcept;
  error_log_header& error_log() const noexcept;
  error_entry& error_at(uint32_t i) const noexcept;

  /// Validated copies taken at creation or attachment, never re-read.
  const bus_limits& limits() const noexcept { return limits_; }
  const liveness_timing& timing() const noexcept { return timing_; }
  uint32_t node_slots() const noexcept { return limits_.node_slots; }
  const std::string& bus() const noexcept { return bus_; }

private:
  std::unique_ptr<boost::interprocess::mapped_region> region_;
  segment_header* header_ = nullptr;
  std::byte* base_ = nullptr;
  // Validated copies: offsets are never re-read from shared memory.
  segment_geometry geometry_{};
  bus_limits limits_;
  liveness_timing timing_;
  std::string bus_;
};

} // namespace shmbus::transport
