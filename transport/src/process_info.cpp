#include "process_info.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/syscall.h>
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

} // namespace shmbus::transport::detail
