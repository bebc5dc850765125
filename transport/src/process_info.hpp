// What the kernel tells about other processes: pidfds (readable when the
// process exits, usable to signal it without pid-reuse races) and
// /proc/<pid>/stat (start time to tell incarnations of a pid apart, exit
// status while the process is a zombie).
#pragma once

#include <cstdint>
#include <optional>

#include <sys/types.h>

namespace shmbus::transport::detail {

/// A pidfd for `pid`, or -1 (errno set) if it does not exist.
int open_pidfd(pid_t pid) noexcept;

/// Sends `sig` through a pidfd; false on failure.
bool signal_pidfd(int pidfd, int sig) noexcept;

/// A descriptor of the directory /proc/<pid>, or -1.
int open_proc_dir(pid_t pid) noexcept;

/// Field 22 (starttime, clock ticks since boot) of <proc_dir>/stat.
std::optional<uint64_t> process_start_time(int proc_dir) noexcept;

/// Start time of this process.
uint64_t own_start_time() noexcept;

struct exit_status {
  bool signaled = false; ///< killed by `value` (a signal), else exited with code `value`
  int value = 0;
};

/// Exit status of the process behind `proc_dir` if it is a zombie now
/// (field 52, exit_code); nullopt if it still runs or was already reaped.
std::optional<exit_status> zombie_exit_status(int proc_dir) noexcept;

/// CLOCK_MONOTONIC in nanoseconds: the same clock in every process.
int64_t monotonic_ns() noexcept;

} // namespace shmbus::transport::detail
