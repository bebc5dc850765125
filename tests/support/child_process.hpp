// Real child processes for multi-process tests: the test binary re-executes
// itself with `--child ROLE ARGS...`, so children start clean (no inherited
// threads or locks) and can be killed, stopped and reaped like any process.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace shmbus::test {

using child_main = int (*)(const std::vector<std::string>& args);

/// Registers `fn` as the body of child processes started with `role`.
struct child_role_registrar {
  child_role_registrar(const char* role, child_main fn);
};

/// Runs the registered role named by argv, or returns nullopt when argv does
/// not ask for a child (then the test runner proceeds with doctest).
std::optional<int> run_child_role_if_requested(int argc, char** argv);

/// How a child ended, decoded from waitpid's status.
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
  static child_process spawn(const std::string& role,
                             const std::vector<std::string>& args = {});

  child_process(child_process&& other) noexcept;
  child_process& operator=(child_process&& other) noexcept;
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process();

  pid_t pid() const noexcept { return pid_; }

  /// Next line the child wrote to stdout (without '\n'), or nullopt when the
  /// deadline passes or the child closed stdout first.
  std::optional<std::string> read_line(std::chrono::milliseconds deadline);

  /// Reads lines until one equals `line`; false on deadline or EOF.
  bool expect_line(const std::string& line, std::chrono::milliseconds deadline);

  /// Sends `sig` (no-op once reaped).
  void signal(int sig);

  /// Waits for the child to end and reaps it; nullopt when the deadline passes.
  std::optional<exit_status> wait(std::chrono::milliseconds deadline);

  bool reaped() const noexcept { return reaped_; }

private:
  child_process() = default;
  void release() noexcept;

  pid_t pid_ = -1;
  int pidfd_ = -1;
  int stdout_fd_ = -1;
  bool reaped_ = false;
  std::string buffer_;
};

/// Path of the running test binary.
std::string self_executable();

} // namespace shmbus::test

#define SHMBUS_CHILD_CONCAT2(a, b) a##b
#define SHMBUS_CHILD_CONCAT(a, b) SHMBUS_CHILD_CONCAT2(a, b)

/// Defines the body of a child role:
///   SHMBUS_CHILD_ROLE("producer") { ... return 0; }   // `args` is in scope
#define SHMBUS_CHILD_ROLE(role)                                                \
  static int SHMBUS_CHILD_CONCAT(shmbus_child_fn_, __LINE__)(                  \
    const std::vector<std::string>& args);                                     \
  static ::shmbus::test::child_role_registrar SHMBUS_CHILD_CONCAT(             \
    shmbus_child_reg_, __LINE__){role,                                         \
                                 &SHMBUS_CHILD_CONCAT(shmbus_child_fn_,        \
                                                      __LINE__)};              \
  static int SHMBUS_CHILD_CONCAT(shmbus_child_fn_, __LINE__)(                  \
    [[maybe_unused]] const std::vector<std::string>& args)
