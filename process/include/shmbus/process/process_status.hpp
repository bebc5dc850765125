// How an OS process ended, decoded from what waitid(2) reported.
#pragma once

#include <cstdint>
#include <string>

#include <signal.h>

#include "shmbus/process/fwd.hpp"

namespace shmbus::process {

struct process_status {
  enum class kind : uint8_t {
    /// Exited on its own; `value` is the exit code.
    exited,
    /// Ended by a signal; `value` is the signal number.
    signaled,
    /// Gone, but its status was taken by someone else (SIGCHLD ignored, or
    /// another waitpid(-1) in this process).
    unknown,
  };

  kind how = kind::unknown;
  int value = 0;

  static process_status exited(int code) noexcept {
    return {kind::exited, code};
  }

  static process_status signaled(int sig) noexcept {
    return {kind::signaled, sig};
  }

  /// Decodes the `si_code`/`si_status` pair of a waitid() result.
  static process_status from_siginfo(const siginfo_t& info) noexcept;

  bool success() const noexcept {
    return how == kind::exited && value == 0;
  }
};

bool operator==(const process_status& x, const process_status& y) noexcept;

inline bool operator!=(const process_status& x,
                       const process_status& y) noexcept {
  return !(x == y);
}

/// "exited with code 3", "killed by signal 9 (SIGKILL)", "ended (status
/// unknown)".
std::string to_string(const process_status& x);

/// "SIGKILL", or "signal 64" when the system has no name for it.
std::string signal_name(int sig);

} // namespace shmbus::process
