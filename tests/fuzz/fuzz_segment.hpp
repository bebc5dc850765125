// Honest segments for the fuzz targets, made by segment::create itself (so
// the fuzzers start from what this build writes, not from a copy of it).
// Their hand-out sockets are removed at once: nothing else joins them.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <string>
#include <vector>

#include <unistd.h>

#include "shmbus/transport/segment.hpp"

namespace shmbus::fuzz {

inline transport::segment make_segment(const transport::bus_limits& limits, bool checksums) {
  static int counter = 0;
  auto bus = "fuzz-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
  transport::segment_params p;
  p.limits = limits;
  p.checksums = checksums;
  auto seg = transport::segment::create(bus, p);
  if (!seg)
    std::abort();
  seg->close_handout();
  transport::segment::unlink(bus);
  return std::move(*seg);
}

/// The bytes of an honest segment of `limits`.
inline std::vector<std::byte> segment_image(const transport::bus_limits& limits,
                                            bool checksums) {
  auto seg = make_segment(limits, checksums);
  auto* base = reinterpret_cast<const std::byte*>(&seg.header());
  return std::vector<std::byte>(base, base + seg.size_bytes());
}

} // namespace shmbus::fuzz
