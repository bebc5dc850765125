// Benchmark processes: this program re-executed as
// `shmbus-bench --role NAME key=value...` through shmbus::process::os_process,
// so that they run under the rules of production (no inherited descriptors,
// default signal mask and dispositions, their own process group). A child
// starts clean (no inherited threads, its own CAF node id), dies with its
// parent, and is killed and reaped by its handle on every exit path of the
// parent.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <sys/types.h>

#include "clock.hpp"
#include "role_args.hpp"
#include "shmbus/process/line_reader.hpp"
#include "shmbus/process/os_process.hpp"

namespace shmbus::bench {

/// Thrown in the parent when SIGINT or SIGTERM arrives during a wait, so the
/// stack unwinds and every child_process handle kills and reaps its child.
struct interrupted_error {};

/// Makes SIGINT/SIGTERM interrupt waits of the parent (see interrupted_error).
void install_interrupt_handlers();

/// The command-line flag that selects a role.
inline constexpr const char* role_flag = "--role";

class child_process {
public:
  /// Starts `role` with `args`; its stdout becomes a pipe to us, its stdin is
  /// /dev/null and its stderr is ours. Throws std::runtime_error on failure.
  static child_process spawn(const std::string& role, const role_args& args);

  pid_t pid() const noexcept {
    return proc_->pid();
  }

  /// Next line of the child's stdout without '\n'; nullopt when the deadline
  /// passes or the child closed its stdout first. Throws interrupted_error.
  std::optional<std::string> read_line(const deadline& until);

  /// Waits until the child exits and reaps it; returns a description such as
  /// "exited with code 0", or nullopt when the deadline passes first.
  /// Throws interrupted_error.
  std::optional<std::string> wait(const deadline& until);

  /// True once reaped with exit code 0.
  bool exited_cleanly() const;

  /// Kills (SIGKILL) and reaps a child that is still running; the
  /// destructor does the same.
  void kill_and_reap() noexcept;

private:
  explicit child_process(std::shared_ptr<process::os_process> proc);

  std::shared_ptr<process::os_process> proc_;
  process::line_reader stdout_;
};

/// First thing a child does: die with the parent (PR_SET_PDEATHSIG), and exit
/// at once if the parent is already gone. Makes stdout line-buffered.
void become_child(pid_t expected_parent);

/// Path of this program, from /proc/self/exe; throws std::runtime_error.
std::string self_executable();

} // namespace shmbus::bench
