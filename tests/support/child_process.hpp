// Real child processes for multi-process tests: the test binary re-executes
// itself with `--child ROLE ARGS...` (child_role.hpp) through
// shmbus::process::os_process, so children run under the rules of
// production: no inherited descriptors, default signal mask and
// dispositions, their own process group, reaped under a lock.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>

#include "child_role.hpp"
#include "shmbus/process/line_reader.hpp"
#include "shmbus/process/os_process.hpp"

namespace shmbus::test {

/// How a child ended, decoded from its process_status.
struct exit_status {
  bool exited = false;   // exited normally with `code`
  int code = 0;
  bool signaled = false; // killed by `signal`
  int signal = 0;
  std::string to_string() const;
};

/// A child process running a registered role. Its stdout is a pipe that the
/// test reads line by line; stderr is inherited. Destruction kills (SIGKILL)
/// and reaps it, so a failing test never leaves a child behind.
class child_process {
public:
  /// Throws std::runtime_error naming the cause when the spawn fails.
  static child_process spawn(const std::string& role,
                             const std::vector<std::string>& args = {});

  /// Runs another program the same way (stdout a pipe, stderr inherited),
  /// with `env` on top of ours: a built tool, or a role under a wrapper
  /// such as setpriv. Throws std::runtime_error when the spawn fails.
  static child_process run(const std::string& executable,
                           const std::vector<std::string>& args,
                           std::vector<std::pair<std::string, std::string>> env = {});

  pid_t pid() const noexcept {
    return proc_->pid();
  }

  /// Next line the child wrote to stdout (without '\n'), or nullopt when the
  /// deadline passes or the child closed stdout first.
  std::optional<std::string> read_line(std::chrono::milliseconds deadline);

  /// Reads lines until one equals `line`; false on deadline or EOF.
  bool expect_line(const std::string& line, std::chrono::milliseconds deadline);

  /// Sends `sig` (no-op once reaped).
  void signal(int sig);

  /// Waits for the child to end and reaps it; nullopt when the deadline passes.
  std::optional<exit_status> wait(std::chrono::milliseconds deadline);

  bool reaped() const {
    return proc_->status().has_value();
  }

private:
  explicit child_process(std::shared_ptr<process::os_process> proc);

  std::shared_ptr<process::os_process> proc_;
  process::line_reader stdout_;
};

/// Path of the running test binary; throws std::runtime_error if unknown.
std::string self_executable();

} // namespace shmbus::test
