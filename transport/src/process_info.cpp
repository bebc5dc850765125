#include "process_info.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

namespace shmbus::transport::detail {

namespace {

/// The fields of <proc_dir>/stat after the command name, so that fields[0]
/// is field 3 (state). The name is in parentheses and may contain spaces.
std::optional<std::vector<std::string>> stat_fields(int proc_dir) {
  int fd = ::openat(proc_dir, "stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return std::nullopt;
  char buf[4096];
  auto n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0)
    return std::nullopt;
  buf[n] = '\0';
  auto* close_paren = std::strrchr(buf, ')');
  if (close_paren == nullptr)
    return std::nullopt;
  std::vector<std::string> fields;
  std::string current;
  for (auto* p = close_paren + 1; *p != '\0'; ++p) {
    if (*p == ' ' || *p == '\n') {
      if (!current.empty())
        fields.push_back(std::move(current));
      current.clear();
    } else {
      current += *p;
    }
  }
  if (!current.empty())
    fields.push_back(std::move(current));
  return fields;
}

constexpr size_t field(size_t number) { return number - 3; }

} // namespace

int open_pidfd(pid_t pid) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

bool signal_pidfd(int pidfd, int sig) noexcept {
  return ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0;
}

int open_proc_dir(pid_t pid) noexcept {
  auto path = "/proc/" + std::to_string(pid);
  return ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

std::optional<uint64_t> process_start_time(int proc_dir) noexcept {
  auto fields = stat_fields(proc_dir);
  if (!fields || fields->size() <= field(22))
    return std::nullopt;
  return std::strtoull((*fields)[field(22)].c_str(), nullptr, 10);
}

uint64_t own_start_time() noexcept {
  int dir = ::open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0)
    return 0;
  auto start = process_start_time(dir);
  ::close(dir);
  return start.value_or(0);
}

std::optional<exit_status> zombie_exit_status(int proc_dir) noexcept {
  auto fields = stat_fields(proc_dir);
  if (!fields || fields->size() <= field(52) || (*fields)[0] != "Z")
    return std::nullopt;
  auto status = std::atoi((*fields)[field(52)].c_str());
  exit_status result;
  if (WIFSIGNALED(status)) {
    result.signaled = true;
    result.value = WTERMSIG(status);
  } else {
    result.value = WEXITSTATUS(status);
  }
  return result;
}

int64_t monotonic_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

bool pidfd_exited(int pidfd) noexcept {
  pollfd p{pidfd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

std::optional<char> process_state(int proc_dir) noexcept {
  auto fields = stat_fields(proc_dir);
  if (!fields || fields->empty() || (*fields)[0].empty())
    return std::nullopt;
  return (*fields)[0][0];
}

bool process_exiting(int proc_dir) noexcept {
  constexpr unsigned long pf_exiting = 0x4; // include/linux/sched.h
  auto fields = stat_fields(proc_dir);
  if (!fields || fields->size() <= field(9) || (*fields)[0].empty())
    return false;
  auto state = (*fields)[0][0];
  if (state == 'Z' || state == 'X' || state == 'x')
    return true;
  return (std::strtoul((*fields)[field(9)].c_str(), nullptr, 10) & pf_exiting) != 0;
}

int64_t coarse_monotonic_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

pid_t current_tid() noexcept {
  thread_local pid_t tid = static_cast<pid_t>(::syscall(SYS_gettid));
  return tid;
}

// -- file locks ---------------------------------------------------------------------

namespace {

/// Parses one "lock:" line of fdinfo, e.g.
///   lock:\t1: OFDLCK ADVISORY  WRITE -1 00:1b:9446 64 64
/// Lines of waiters ("1: -> OFDLCK ...") and other lock kinds are skipped.
std::optional<held_lock> parse_lock_line(const std::string& line, int fd,
                                         const file_identity& file) {
  std::vector<std::string> tokens;
  std::string current;
  for (char c : line) {
    if (c == ' ' || c == '\t') {
      if (!current.empty())
        tokens.push_back(std::move(current));
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty())
    tokens.push_back(std::move(current));
  // "lock:" "1:" "OFDLCK" "ADVISORY" "WRITE" "-1" "maj:min:ino" "start" "end"
  if (tokens.size() != 9 || tokens[2] != "OFDLCK")
    return std::nullopt;
  unsigned maj = 0;
  unsigned min = 0;
  unsigned long long ino = 0;
  if (std::sscanf(tokens[6].c_str(), "%x:%x:%llu", &maj, &min, &ino) != 3)
    return std::nullopt;
  if (ino != file.ino || ::makedev(maj, min) != file.dev)
    return std::nullopt;
  held_lock lock;
  lock.fd = fd;
  lock.write = tokens[4] == "WRITE";
  lock.start = std::strtoll(tokens[7].c_str(), nullptr, 10);
  lock.end = tokens[8] == "EOF" ? INT64_MAX : std::strtoll(tokens[8].c_str(), nullptr, 10);
  return lock;
}

/// Appends the locks on `file` listed in fdinfo file `name` of `dir`.
void locks_of_fd(int fdinfo_dir, const char* name, const file_identity& file,
                 std::vector<held_lock>& out) {
  int fd = ::openat(fdinfo_dir, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  // Large enough for the lines of a descriptor of the lock file, which come
  // after the fixed "pos/flags/mnt_id/ino" lines.
  char buf[16384];
  auto n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0)
    return;
  buf[n] = '\0';
  auto number = std::atoi(name);
  bool same_file = false;
  for (char* line = buf; line != nullptr && *line != '\0';) {
    char* next = std::strchr(line, '\n');
    if (next != nullptr)
      *next++ = '\0';
    if (std::strncmp(line, "ino:", 4) == 0)
      same_file = std::strtoull(line + 4, nullptr, 10) == file.ino;
    else if (same_file && std::strncmp(line, "lock:", 5) == 0)
      if (auto lock = parse_lock_line(line, number, file))
        out.push_back(*lock);
    line = next;
  }
}

bool is_number(const char* name) {
  if (*name == '\0')
    return false;
  for (auto* p = name; *p != '\0'; ++p)
    if (*p < '0' || *p > '9')
      return false;
  return true;
}

/// Calls `fn(dir, name)` for each numeric entry of directory `dir_fd` (which
/// it takes over and closes; `dir` is its descriptor), at most `limit`
/// times; `fn` returns false to stop. False if the directory is unreadable.
template <class Fn>
bool for_each_number(int dir_fd, int limit, Fn&& fn) {
  if (dir_fd < 0)
    return false;
  DIR* dir = ::fdopendir(dir_fd);
  if (dir == nullptr) {
    ::close(dir_fd);
    return false;
  }
  int seen = 0;
  while (auto* entry = ::readdir(dir)) {
    if (!is_number(entry->d_name))
      continue;
    if (++seen > limit || !fn(::dirfd(dir), entry->d_name))
      break;
  }
  ::closedir(dir);
  return true;
}

/// The number after `key` in `text` (0 if absent).
uint64_t status_value(const char* text, const char* key) {
  auto* at = std::strstr(text, key);
  return at == nullptr ? 0 : std::strtoull(at + std::strlen(key), nullptr, 10);
}

/// Reads <dir_fd>/<path> into `buf`; false if it cannot.
bool read_text(int dir_fd, const std::string& path, char* buf, size_t size) {
  int fd = ::openat(dir_fd, path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  auto n = ::read(fd, buf, size - 1);
  ::close(fd);
  if (n <= 0)
    return false;
  buf[n] = '\0';
  return true;
}

} // namespace

std::optional<std::vector<held_lock>> ofd_locks_on(int proc_dir,
                                                   const file_identity& file) noexcept {
  int fdinfo = ::openat(proc_dir, "fdinfo", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  std::vector<held_lock> locks;
  int fds = 0;
  auto read = for_each_number(fdinfo, max_fds_scanned, [&](int dir, const char* name) {
    ++fds;
    locks_of_fd(dir, name, file, locks);
    return true;
  });
  // A process in its exit closes its descriptors before the kernel releases
  // their locks (the last close of each runs a little later): meanwhile its
  // fdinfo lacks locks it still holds, or lists no descriptor at all. That
  // proves nothing either way (shmbus-bench's kill loops met it about once
  // in 60 kills). Checked after the read: a process that began its exit
  // only then was read whole.
  if (!read || fds == 0 || process_exiting(proc_dir))
    return std::nullopt;
  return locks;
}

std::optional<pid_t> find_lock_holder(const file_identity& file, int64_t byte) noexcept {
  std::optional<pid_t> holder;
  int proc = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  for_each_number(proc, max_processes_scanned, [&](int dir, const char* name) {
    int proc_dir = ::openat(dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (proc_dir < 0)
      return true;
    auto locks = ofd_locks_on(proc_dir, file);
    ::close(proc_dir);
    if (locks)
      for (auto& lock : *locks)
        if (lock.write && lock.covers(byte))
          holder = static_cast<pid_t>(std::atoi(name));
    return !holder;
  });
  return holder;
}

// -- progress -------------------------------------------------------------------------

std::optional<thread_progress> task_progress(int proc_dir, pid_t tid) noexcept {
  if (tid <= 0)
    return std::nullopt;
  auto task = "task/" + std::to_string(tid) + "/";
  char buf[4096];
  thread_progress result;
  bool known = false;
  if (read_text(proc_dir, task + "schedstat", buf, sizeof(buf))) {
    unsigned long long run = 0;
    unsigned long long wait = 0;
    unsigned long long slices = 0;
    if (std::sscanf(buf, "%llu %llu %llu", &run, &wait, &slices) == 3) {
      result.run_ns = run;
      result.timeslices = slices;
      known = true;
    }
  }
  if (read_text(proc_dir, task + "status", buf, sizeof(buf))) {
    result.switches = status_value(buf, "\nvoluntary_ctxt_switches:")
                      + status_value(buf, "\nnonvoluntary_ctxt_switches:");
    known = true;
  }
  if (!known)
    return std::nullopt;
  return result;
}

std::optional<thread_progress> process_progress(int proc_dir) noexcept {
  int tasks = ::openat(proc_dir, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  thread_progress sum;
  bool known = false;
  for_each_number(tasks, max_fds_scanned, [&](int, const char* name) {
    if (auto p = task_progress(proc_dir, static_cast<pid_t>(std::atoi(name)))) {
      sum.run_ns += p->run_ns;
      sum.timeslices += p->timeslices;
      sum.switches += p->switches;
      known = true;
    }
    return true;
  });
  if (!known)
    return std::nullopt;
  return sum;
}

} // namespace shmbus::transport::detail
