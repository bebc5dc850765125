// Problems the bus cannot hand to an actor (a plain send that failed, a
// malformed record from a peer) go to stderr, once per kind: a peer that
// keeps sending bad records must not flood the log.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_set>

namespace shmbus::bus {

class once_log {
public:
  explicit once_log(std::string node_name);

  /// Writes "shmbus[<node>]: <text>" to stderr unless a line with the same
  /// `key` was written already. Thread-safe.
  void write(const std::string& key, const std::string& text);

  /// Writes the line whatever was written before. Thread-safe.
  void write_always(const std::string& text) const;

private:
  /// Keys remembered at most; past it the set starts over (a line may then
  /// repeat, rarely).
  static constexpr size_t max_keys = 4096;

  std::string node_name_;
  std::mutex mtx_;
  std::unordered_set<std::string> written_;
};

} // namespace shmbus::bus
