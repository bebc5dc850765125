// Reads a child's output line by line, with a deadline: how a parent talks
// with a child that reports on its stdout (the roles of the test binaries
// and of shmbus-bench). Output forwarded to a log goes through
// process_watcher instead.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "shmbus/process/fwd.hpp"

namespace shmbus::process {

class line_reader {
public:
  line_reader() = default;

  /// Reads from `fd` (e.g. os_process::take_output_fds().first) and closes
  /// it when done; -1 gives a reader at its end.
  explicit line_reader(int fd) noexcept;

  line_reader(line_reader&& other) noexcept;
  line_reader& operator=(line_reader&& other) noexcept;
  line_reader(const line_reader&) = delete;
  line_reader& operator=(const line_reader&) = delete;
  ~line_reader();

  /// The next line, without its '\n'. None when `timeout` passes first, when
  /// a signal handler interrupts the wait (callers that handle signals check
  /// their flag, then call again), or at the end of the output (at_end();
  /// an unterminated last line is dropped).
  /// Blocks the caller up to `timeout`. Not thread-safe: one reader thread.
  std::optional<std::string> read_line(std::chrono::nanoseconds timeout);

  /// The writer closed its end and every complete line has been read.
  bool at_end() const noexcept;

private:
  void close() noexcept;

  int fd_ = -1;
  std::string buffer_;
};

} // namespace shmbus::process
