// The distinct-error log of a bus (error_entry.hpp): report() counts an
// error under its kind and text, so a peer that sends a thousand bad
// records leaves one entry with count 1000, its first and last time and
// who reported it; `shmbusctl errors` prints them after the fact.
//
// Threads: every method may run in any thread and process at once. Never
// blocks: a report is a scan of at most error_entries entries (or one, with
// the hint of an earlier report) and a few atomic stores.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shmbus/transport/error_entry.hpp"
#include "shmbus/transport/segment.hpp"

namespace shmbus::transport {

/// Who reports: a node of the bus.
struct error_reporter {
  uint32_t slot = 0;
  uint32_t incarnation = 0;
  int32_t pid = 0;
  std::string node_name;
};

/// An entry as read (a copy).
struct logged_error {
  std::string kind;
  std::string text;
  std::string node; ///< first reporter
  uint64_t count = 0;
  int64_t first_unix_ns = 0;
  int64_t last_unix_ns = 0;
  int32_t first_pid = 0;
  int32_t last_pid = 0;
};

class error_log {
public:
  /// No entry: the log was full (counted in dropped()).
  static constexpr uint32_t no_entry = 0xffffffff;

  explicit error_log(const segment& seg) noexcept : seg_(&seg) {}

  /// Counts one occurrence of the error (kind, text), cut to their fields.
  /// `hint`: the index an earlier report of the same error returned, which
  /// saves the scan. Returns the entry's index, or no_entry if the log is
  /// full. Never blocks.
  uint32_t report(std::string_view kind, std::string_view text,
                  const error_reporter& who, uint32_t hint = no_entry) noexcept;

  /// Every entry, in table order. Never blocks.
  std::vector<logged_error> list() const;

  /// Reports of new errors that found the log full. Never blocks.
  uint64_t dropped() const noexcept;

private:
  bool matches(uint32_t index, uint64_t hash, std::string_view kind,
               std::string_view text) const noexcept;
  void count(uint32_t index, const error_reporter& who, int64_t now) noexcept;

  const segment* seg_;
};

} // namespace shmbus::transport
