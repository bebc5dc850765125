// Problems the bus cannot hand to an actor (a plain send that failed, a
// malformed record from a peer, a corrupt record in the inbox): each one is
// counted in the bus's distinct-error log in the segment (kind, text, how
// often, first and last seen; `shmbusctl errors`), and written to
// shmbus::log as a warning once per kind: a peer that keeps sending bad
// records must not flood the log.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "shmbus/transport/error_log.hpp"

namespace shmbus::transport {
class node;
} // namespace shmbus::transport

namespace shmbus::bus {

class once_log {
public:
  /// `node` is this process's transport node: the error log is in its
  /// segment and names it as the reporter. It must outlive this object.
  once_log(std::string node_name, const transport::node& node);

  /// Counts (key, text) in the error log, and writes `text` as a warning
  /// (event "bus_error", fields node and kind = `key`) unless a line with
  /// the same `key` was written already. Thread-safe; never blocks beyond
  /// the log's sink.
  void write(const std::string& key, const std::string& text);

  /// Writes `text` as an info line (event "bus_note"), whatever was
  /// written before. Thread-safe.
  void write_always(const std::string& text) const;

private:
  /// Keys remembered at most; past it the map starts over (a line may then
  /// repeat, rarely).
  static constexpr size_t max_keys = 4096;

  std::string node_name_;
  transport::error_log errors_;
  transport::error_reporter reporter_;
  std::mutex mtx_;
  /// Key -> the error log entry of its last report (a hint for the next).
  std::unordered_map<std::string, uint32_t> written_;
};

} // namespace shmbus::bus
