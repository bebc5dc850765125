// A child OS process of this process: spawned with posix_spawn, signalled
// and reaped through its pid, which cannot be reused before it is reaped.
// The one way shmbus starts processes: module processes, the launcher's
// server, and the children of the tests and benchmarks, so that all of them
// run under the same rules.
//
// Never leaves a zombie: whoever sees it end first (the process_watcher
// thread, a wait_for() caller, the destructor) reaps it, under a mutex, and
// the destructor of the last reference SIGKILLs and reaps a process that
// still runs. Every method is thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>

#include "shmbus/process/error.hpp"
#include "shmbus/process/fwd.hpp"
#include "shmbus/process/process_status.hpp"

namespace shmbus::process {

class os_process {
public:
  struct spawn_options {
    std::string executable;
    /// argv[1], argv[2], ...; argv[0] is `executable`.
    std::vector<std::string> args;
    /// Set on top of this process's environment (replacing equal names).
    std::vector<std::pair<std::string, std::string>> env;
    /// Stdout resp. stderr go to a pipe (see take_output_fds) instead of
    /// ours.
    bool capture_stdout = false;
    bool capture_stderr = false;
    /// Its own process group, so that a terminal's Ctrl-C reaches only us
    /// and we stop it in order.
    bool own_process_group = true;
  };

  /// Spawns the process. Its stdin is /dev/null. Every descriptor but 0, 1
  /// and 2 is closed in it: an inherited bus lock file would keep this
  /// process's kernel locks alive after it dies. Signal mask and
  /// dispositions start at their defaults. A missing executable fails here
  /// (glibc reports the failed exec). Blocks only for the spawn itself.
  static result<std::shared_ptr<os_process>> spawn(const spawn_options& opts);

  os_process(const os_process&) = delete;
  os_process& operator=(const os_process&) = delete;

  /// SIGKILLs and reaps the process if it was not reaped yet (blocks up to
  /// defaults::reap_timeout).
  ~os_process();

  pid_t pid() const noexcept {
    return pid_;
  }

  /// Becomes readable (poll) when the process has ended.
  int pidfd() const noexcept {
    return pidfd_;
  }

  /// The read ends of the stdout and stderr pipes (capture_stdout,
  /// capture_stderr), handed out once; -1 otherwise. The caller owns them.
  std::pair<int, int> take_output_fds() noexcept;

  /// Sends `sig` unless the process was reaped; returns whether it was sent.
  bool signal(int sig) noexcept;

  /// Reaps the process if it has ended; does not wait.
  std::optional<process_status> try_reap() noexcept;

  /// Waits up to `timeout` for the process to end and reaps it; the status
  /// if it was reaped. Blocks the caller up to `timeout` (signals to this
  /// thread do not end the wait).
  std::optional<process_status> wait_for(std::chrono::nanoseconds timeout) noexcept;

  /// SIGKILL, then wait_for(`timeout`); the status if it was reaped.
  /// Blocks the caller up to `timeout`.
  std::optional<process_status>
  kill_and_reap(std::chrono::nanoseconds timeout) noexcept;

  /// The status once reaped.
  std::optional<process_status> status() const;

  /// Calls `f` once, with the status, when the process is reaped: at once
  /// (in this thread) if it already is, otherwise in the thread that reaps it.
  void on_reaped(std::function<void(const process_status&)> f);

private:
  os_process() = default;

  pid_t pid_ = -1;
  int pidfd_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;

  mutable std::mutex mtx_;
  std::optional<process_status> status_; // set once, under mtx_
  std::vector<std::function<void(const process_status&)>> listeners_;
};

/// The path of this program (/proc/self/exe): what a program spawns to run a
/// copy of itself in a child, as the test binaries and shmbus-bench do.
result<std::string> self_executable();

} // namespace shmbus::process
