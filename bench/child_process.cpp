#include "child_process.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace shmbus::bench {

namespace {

volatile std::sig_atomic_t interrupt_signal = 0;

extern "C" void on_interrupt(int sig) {
  interrupt_signal = sig;
}

void throw_if_interrupted() {
  if (interrupt_signal != 0)
    throw interrupted_error{};
}

int poll_ms(const deadline& until) {
  auto left = until.remaining().count();
  return static_cast<int>(std::min<long long>(left, 1000 * 1000));
}

std::string describe_status(int status) {
  if (WIFEXITED(status))
    return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string("killed by signal ") + ::strsignal(WTERMSIG(status));
  return "stopped";
}

} // namespace

void install_interrupt_handlers() {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0; // no SA_RESTART: a blocked poll() must return EINTR
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
}

std::string self_executable() {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0)
    throw std::runtime_error(std::string("cannot read /proc/self/exe: ")
                             + std::strerror(errno));
  return std::string(buf, static_cast<std::size_t>(n));
}

child_process child_process::spawn(const std::string& role,
                                   const role_args& args) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  auto exe = self_executable();
  std::vector<std::string> words{exe, role_flag, role};
  for (auto& word : args.to_words())
    words.push_back(word);
  std::vector<char*> argv;
  for (auto& word : words)
    argv.push_back(word.data());
  argv.push_back(nullptr);
  child_process child;
  auto rc = ::posix_spawn(&child.pid_, exe.c_str(), &actions, nullptr,
                          argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (rc != 0) {
    ::close(pipe_fds[0]);
    child.pid_ = -1;
    throw std::runtime_error("cannot start " + exe + " " + role
                             + ": posix_spawn: " + std::strerror(rc));
  }
  child.stdout_fd_ = pipe_fds[0];
  // Without a pidfd, wait() falls back to polling waitpid every few ms.
  child.pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, child.pid_, 0));
  return child;
}

child_process::child_process(child_process&& other) noexcept {
  *this = std::move(other);
}

child_process& child_process::operator=(child_process&& other) noexcept {
  if (this != &other) {
    kill_and_reap();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::exchange(other.pidfd_, -1);
    stdout_fd_ = std::exchange(other.stdout_fd_, -1);
    reaped_ = std::exchange(other.reaped_, false);
    clean_exit_ = std::exchange(other.clean_exit_, false);
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

child_process::~child_process() {
  kill_and_reap();
}

void child_process::kill_and_reap() noexcept {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    // SIGKILL cannot be blocked: this wait ends as soon as the kernel has
    // torn the process down.
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }
  if (pidfd_ >= 0)
    ::close(pidfd_);
  if (stdout_fd_ >= 0)
    ::close(stdout_fd_);
  pidfd_ = -1;
  stdout_fd_ = -1;
}

std::optional<std::string> child_process::read_line(const deadline& until) {
  for (;;) {
    if (auto pos = buffer_.find('\n'); pos != std::string::npos) {
      auto line = buffer_.substr(0, pos);
      buffer_.erase(0, pos + 1);
      return line;
    }
    if (stdout_fd_ < 0)
      return std::nullopt;
    throw_if_interrupted();
    pollfd pfd{stdout_fd_, POLLIN, 0};
    auto rc = ::poll(&pfd, 1, poll_ms(until));
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc <= 0)
      return std::nullopt;
    char chunk[65536];
    auto n = ::read(stdout_fd_, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      ::close(stdout_fd_);
      stdout_fd_ = -1;
      continue;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

std::optional<std::string> child_process::wait(const deadline& until) {
  if (pid_ <= 0 || reaped_)
    return std::nullopt;
  for (;;) {
    int status = 0;
    auto rc = ::waitpid(pid_, &status, WNOHANG);
    if (rc == pid_) {
      reaped_ = true;
      clean_exit_ = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      return describe_status(status);
    }
    if (rc < 0 && errno != EINTR)
      return std::nullopt;
    throw_if_interrupted();
    if (until.expired())
      return std::nullopt;
    // The pidfd turns readable when the child exits.
    pollfd pfd{pidfd_, POLLIN, 0};
    if (pidfd_ >= 0)
      ::poll(&pfd, 1, poll_ms(until));
    else
      ::poll(nullptr, 0, std::min(poll_ms(until), 5));
  }
}

void become_child(pid_t expected_parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // The parent may have died between fork and prctl: then nobody would
  // send the death signal any more.
  if (::getppid() != expected_parent)
    std::_Exit(3);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
}

} // namespace shmbus::bench
