#include "child_process.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>
#include <stdexcept>
#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace shmbus::test {

namespace {

std::map<std::string, child_main>& roles() {
  static std::map<std::string, child_main> instance;
  return instance;
}

int remaining_ms(std::chrono::steady_clock::time_point until) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
    until - std::chrono::steady_clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

} // namespace

child_role_registrar::child_role_registrar(const char* role, child_main fn) {
  roles().emplace(role, fn);
}

std::optional<int> run_child_role_if_requested(int argc, char** argv) {
  if (argc < 3 || std::strcmp(argv[1], "--child") != 0)
    return std::nullopt;
  // A child never outlives its test runner, even when the runner is killed.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  auto i = roles().find(argv[2]);
  if (i == roles().end()) {
    std::fprintf(stderr, "unknown child role '%s'\n", argv[2]);
    return 127;
  }
  std::vector<std::string> args(argv + 3, argv + argc);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  return i->second(args);
}

std::string exit_status::to_string() const {
  if (exited)
    return "exited with code " + std::to_string(code);
  if (signaled)
    return "killed by signal " + std::to_string(signal);
  return "still running";
}

std::string self_executable() {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0)
    throw std::runtime_error("cannot read /proc/self/exe");
  return std::string(buf, static_cast<size_t>(n));
}

child_process child_process::spawn(const std::string& role,
                                   const std::vector<std::string>& args) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  auto exe = self_executable();
  std::vector<std::string> argv_storage{exe, "--child", role};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  child_process child;
  auto rc = ::posix_spawn(&child.pid_, exe.c_str(), &actions, nullptr,
                          argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (rc != 0) {
    ::close(pipe_fds[0]);
    throw std::runtime_error(std::string("posix_spawn: ") + std::strerror(rc));
  }
  child.stdout_fd_ = pipe_fds[0];
  child.pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, child.pid_, 0));
  return child;
}

child_process::child_process(child_process&& other) noexcept {
  *this = std::move(other);
}

child_process& child_process::operator=(child_process&& other) noexcept {
  if (this != &other) {
    release();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::exchange(other.pidfd_, -1);
    stdout_fd_ = std::exchange(other.stdout_fd_, -1);
    reaped_ = std::exchange(other.reaped_, false);
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

child_process::~child_process() {
  release();
}

void child_process::release() noexcept {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    ::kill(pid_, SIGCONT);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (pidfd_ >= 0)
    ::close(pidfd_);
  if (stdout_fd_ >= 0)
    ::close(stdout_fd_);
  pid_ = -1;
  pidfd_ = -1;
  stdout_fd_ = -1;
  reaped_ = false;
}

std::optional<std::string>
child_process::read_line(std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (auto pos = buffer_.find('\n'); pos != std::string::npos) {
      auto line = buffer_.substr(0, pos);
      buffer_.erase(0, pos + 1);
      return line;
    }
    if (stdout_fd_ < 0)
      return std::nullopt;
    pollfd pfd{stdout_fd_, POLLIN, 0};
    auto rc = ::poll(&pfd, 1, remaining_ms(until));
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc <= 0)
      return std::nullopt;
    char chunk[4096];
    auto n = ::read(stdout_fd_, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      ::close(stdout_fd_);
      stdout_fd_ = -1;
      continue;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

bool child_process::expect_line(const std::string& line,
                                std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    auto got = read_line(std::chrono::milliseconds{remaining_ms(until)});
    if (!got)
      return false;
    if (*got == line)
      return true;
  }
}

void child_process::signal(int sig) {
  if (pid_ > 0 && !reaped_)
    ::kill(pid_, sig);
}

std::optional<exit_status>
child_process::wait(std::chrono::milliseconds deadline) {
  if (pid_ <= 0)
    return std::nullopt;
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    int status = 0;
    auto rc = ::waitpid(pid_, &status, WNOHANG);
    if (rc == pid_) {
      reaped_ = true;
      exit_status result;
      if (WIFEXITED(status)) {
        result.exited = true;
        result.code = WEXITSTATUS(status);
      } else if (WIFSIGNALED(status)) {
        result.signaled = true;
        result.signal = WTERMSIG(status);
      }
      return result;
    }
    if (rc < 0 && errno != EINTR)
      return std::nullopt;
    auto left = remaining_ms(until);
    if (left == 0)
      return std::nullopt;
    // The pidfd becomes readable when the child exits: no polling loop.
    pollfd pfd{pidfd_, POLLIN, 0};
    ::poll(&pfd, 1, pidfd_ >= 0 ? left : std::min(left, 5));
  }
}

} // namespace shmbus::test
