// What the kernel tells about other processes: pidfds (readable when the
// process exits, usable to signal it without pid-reuse races),
// /proc/<pid>/stat (start time, run state, exit status while a zombie),
// /proc/<pid>/fdinfo (the file locks a process holds: the proof that it is
// a slot's member) and per-thread scheduler counters (whether a thread made
// progress). Every query answers "unknown" (nullopt) when the kernel does
// not tell; callers must never read that as "dead".
//
// Nothing here blocks beyond a few /proc reads; every function is
// thread-safe (no shared state but a thread-local cache of the caller's tid).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include <sys/types.h>

namespace shmbus::transport::detail {

/// A pidfd for `pid`, or -1 (errno set) if it does not exist.
int open_pidfd(pid_t pid) noexcept;

/// Sends `sig` through a pidfd; false on failure.
bool signal_pidfd(int pidfd, int sig) noexcept;

/// True once the process behind `pidfd` has exited (the pidfd is readable).
bool pidfd_exited(int pidfd) noexcept;

/// A descriptor of the directory /proc/<pid>, or -1.
int open_proc_dir(pid_t pid) noexcept;

/// Field 22 (starttime, clock ticks since boot) of <proc_dir>/stat.
std::optional<uint64_t> process_start_time(int proc_dir) noexcept;

/// Start time of this process.
uint64_t own_start_time() noexcept;

/// Field 3 (state: R, S, D, T, t, Z, ...) of <proc_dir>/stat.
std::optional<char> process_state(int proc_dir) noexcept;

/// True if the process behind `proc_dir` is on its way out: a zombie or
/// dead, or the kernel is running its exit (PF_EXITING in field 9, flags),
/// when its descriptors may be gone while their locks are still held.
/// False if it runs, or if its stat cannot be read.
bool process_exiting(int proc_dir) noexcept;

struct exit_status {
  bool signaled = false; ///< killed by `value` (a signal), else exited with code `value`
  int value = 0;
};

/// Exit status of the process behind `proc_dir` if it is a zombie now
/// (field 52, exit_code); nullopt if it still runs or was already reaped.
std::optional<exit_status> zombie_exit_status(int proc_dir) noexcept;

/// CLOCK_MONOTONIC in nanoseconds: the same clock in every process.
int64_t monotonic_ns() noexcept;

/// CLOCK_MONOTONIC_COARSE in nanoseconds: the same clock as monotonic_ns(),
/// up to one scheduler tick (1-10 ms) behind, for a few ns per read.
int64_t coarse_monotonic_ns() noexcept;

/// The kernel id of the calling thread (cached per thread).
pid_t current_tid() noexcept;

// -- file locks as the kernel sees them ------------------------------------------

/// A file as /proc/<pid>/fdinfo names it.
struct file_identity {
  uint64_t dev = 0;
  uint64_t ino = 0;
};

/// One open-file-description lock a process holds on a file, as its
/// /proc/<pid>/fdinfo/<fd> lists it.
struct held_lock {
  int fd = -1;
  bool write = false;
  int64_t start = 0;
  int64_t end = 0; ///< inclusive; INT64_MAX for "EOF"

  bool covers(int64_t byte) const noexcept { return start <= byte && byte <= end; }
};

/// Every OFD lock the process behind `proc_dir` holds on `file`; nullopt if
/// its fdinfo cannot be read (another user's process, no /proc, gone), lists
/// no descriptor, or the process is exiting (process_exiting: it drops its
/// descriptors before their locks are released, so it proves nothing
/// either way).
/// Reads at most `max_fds_scanned` descriptors.
std::optional<std::vector<held_lock>> ofd_locks_on(int proc_dir,
                                                   const file_identity& file) noexcept;

/// Descriptors ofd_locks_on() and find_lock_holder() read per process at most.
constexpr int max_fds_scanned = 4096;

/// A process holding a write lock on byte `byte` of `file`, found by reading
/// the fdinfo of every process in /proc (at most `max_processes_scanned`;
/// those of other users cannot be read and are skipped). nullopt if none
/// was found. Costs milliseconds: call it rarely.
std::optional<pid_t> find_lock_holder(const file_identity& file, int64_t byte) noexcept;

constexpr int max_processes_scanned = 32768;

// -- progress of a thread ----------------------------------------------------------

/// What the scheduler counted for a thread: it advances whenever the
/// thread runs or sleeps and wakes, and stands still while it is blocked
/// for good or stopped.
struct thread_progress {
  uint64_t run_ns = 0;        ///< schedstat: time on a CPU
  uint64_t timeslices = 0;    ///< schedstat: times it was scheduled
  uint64_t switches = 0;      ///< status: voluntary + involuntary context switches

  bool operator==(const thread_progress& x) const noexcept {
    return run_ns == x.run_ns && timeslices == x.timeslices && switches == x.switches;
  }
  bool operator!=(const thread_progress& x) const noexcept { return !(*this == x); }
};

/// Progress of thread `tid` of the process behind `proc_dir`; nullopt if
/// `tid` is no thread of that process or the kernel does not tell.
std::optional<thread_progress> task_progress(int proc_dir, pid_t tid) noexcept;

/// The sum of task_progress() over every thread of the process (at most
/// max_fds_scanned threads); nullopt if the kernel does not tell.
std::optional<thread_progress> process_progress(int proc_dir) noexcept;

} // namespace shmbus::transport::detail
