#include "shmbus/process/os_process.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmbus/process/defaults.hpp"

extern char** environ;

namespace shmbus::process {

namespace {

void close_fd(int& fd) noexcept {
  if (fd >= 0)
    ::close(fd);
  fd = -1;
}

error spawn_error(const std::string& exe, const std::string& what, int err) {
  return {err, "cannot start " + exe + ": " + what + ": " + std::strerror(err)};
}

/// Our environment with `overrides` applied, as NAME=VALUE strings.
std::vector<std::string>
make_environment(const std::vector<std::pair<std::string, std::string>>&
                   overrides) {
  std::map<std::string, std::string> vars;
  for (char** p = environ; p && *p; ++p) {
    std::string entry{*p};
    auto eq = entry.find('=');
    if (eq != std::string::npos)
      vars[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (auto& [name, value] : overrides)
    vars[name] = value;
  std::vector<std::string> result;
  result.reserve(vars.size());
  for (auto& [name, value] : vars)
    result.push_back(name + "=" + value);
  return result;
}

std::vector<char*> pointers_to(std::vector<std::string>& xs) {
  std::vector<char*> result;
  result.reserve(xs.size() + 1);
  for (auto& x : xs)
    result.push_back(x.data());
  result.push_back(nullptr);
  return result;
}

/// Owns posix_spawn's attribute objects for the duration of one spawn.
struct spawn_attributes {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  spawn_attributes() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~spawn_attributes() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  spawn_attributes(const spawn_attributes&) = delete;
  spawn_attributes& operator=(const spawn_attributes&) = delete;
};

} // namespace

result<std::shared_ptr<os_process>>
os_process::spawn(const spawn_options& opts) {
  if (opts.executable.empty())
    return error{EINVAL, "cannot start a process without an executable"};
  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  auto close_pipes = [&] {
    close_fd(out_pipe[0]);
    close_fd(out_pipe[1]);
    close_fd(err_pipe[0]);
    close_fd(err_pipe[1]);
  };
  if ((opts.capture_stdout && ::pipe2(out_pipe, O_CLOEXEC) != 0)
      || (opts.capture_stderr && ::pipe2(err_pipe, O_CLOEXEC) != 0)) {
    auto err = errno;
    close_pipes();
    return spawn_error(opts.executable, "pipe2", err);
  }
  spawn_attributes sa;
  posix_spawn_file_actions_addopen(&sa.actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  if (opts.capture_stdout)
    posix_spawn_file_actions_adddup2(&sa.actions, out_pipe[1], STDOUT_FILENO);
  if (opts.capture_stderr)
    posix_spawn_file_actions_adddup2(&sa.actions, err_pipe[1], STDERR_FILENO);
  // Nothing else crosses over, whatever its O_CLOEXEC flag: above all not the
  // lock file of a bus, whose OFD locks would outlive us in the child.
  posix_spawn_file_actions_addclosefrom_np(&sa.actions, 3);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&sa.attr, &none);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigdefault(&sa.attr, &all);
  if (opts.own_process_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&sa.attr, 0);
  }
  posix_spawnattr_setflags(&sa.attr, flags);
  std::vector<std::string> argv_storage;
  argv_storage.reserve(opts.args.size() + 1);
  argv_storage.push_back(opts.executable);
  argv_storage.insert(argv_storage.end(), opts.args.begin(), opts.args.end());
  auto argv = pointers_to(argv_storage);
  auto env_storage = make_environment(opts.env);
  auto envp = pointers_to(env_storage);
  std::shared_ptr<os_process> proc{new os_process};
  // posix_spawnp searches PATH for names without a slash; glibc reports a
  // failed exec (e.g. ENOENT) as its result.
  auto rc = ::posix_spawnp(&proc->pid_, opts.executable.c_str(), &sa.actions,
                           &sa.attr, argv.data(), envp.data());
  close_fd(out_pipe[1]);
  close_fd(err_pipe[1]);
  if (rc != 0) {
    close_pipes();
    proc->pid_ = -1;
    return spawn_error(opts.executable, "posix_spawn", rc);
  }
  // The pid stays ours until we reap it, so opening the pidfd now is safe.
  proc->pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, proc->pid_, 0));
  proc->stdout_fd_ = out_pipe[0];
  proc->stderr_fd_ = err_pipe[0];
  return proc;
}

os_process::~os_process() {
  if (pid_ > 0)
    kill_and_reap(defaults::reap_timeout);
  close_fd(pidfd_);
  close_fd(stdout_fd_);
  close_fd(stderr_fd_);
}

std::pair<int, int> os_process::take_output_fds() noexcept {
  std::lock_guard<std::mutex> guard{mtx_};
  return {std::exchange(stdout_fd_, -1), std::exchange(stderr_fd_, -1)};
}

bool os_process::signal(int sig) noexcept {
  std::lock_guard<std::mutex> guard{mtx_};
  // Under the lock that reaping takes: the pid cannot be recycled meanwhile.
  if (status_ || pid_ <= 0)
    return false;
  return ::kill(pid_, sig) == 0;
}

std::optional<process_status> os_process::try_reap() noexcept {
  std::vector<std::function<void(const process_status&)>> to_call;
  process_status result;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (status_)
      return status_;
    if (pid_ <= 0)
      return std::nullopt;
    siginfo_t info;
    std::memset(&info, 0, sizeof(info));
    int rc;
    do {
      rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
      if (errno != ECHILD)
        return std::nullopt;
      // Someone else took the status; the process is gone all the same.
      status_ = process_status{};
    } else if (info.si_pid == 0) {
      return std::nullopt; // still running
    } else {
      status_ = process_status::from_siginfo(info);
    }
    result = *status_;
    to_call.swap(listeners_);
  }
  // Outside the lock: a listener may call back into this object.
  for (auto& f : to_call)
    f(result);
  return result;
}

std::optional<process_status>
os_process::wait_for(std::chrono::nanoseconds timeout) noexcept {
  using clock = std::chrono::steady_clock;
  auto until = clock::now() + timeout;
  for (;;) {
    if (auto st = try_reap())
      return st;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - clock::now());
    if (left.count() <= 0)
      return try_reap();
    if (pidfd_ < 0) {
      // No pidfd (kernel < 5.3): poll the status every millisecond.
      pollfd none{-1, 0, 0};
      ::poll(&none, 0, 1);
      continue;
    }
    // Readable once the process ended; round up so that we never spin.
    pollfd pfd{pidfd_, POLLIN, 0};
    ::poll(&pfd, 1, static_cast<int>(left.count()) + 1);
  }
}

std::optional<process_status>
os_process::kill_and_reap(std::chrono::nanoseconds timeout) noexcept {
  signal(SIGKILL);
  return wait_for(timeout);
}

std::optional<process_status> os_process::status() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return status_;
}

void os_process::on_reaped(std::function<void(const process_status&)> f) {
  std::unique_lock<std::mutex> guard{mtx_};
  if (!status_) {
    listeners_.push_back(std::move(f));
    return;
  }
  auto st = *status_;
  guard.unlock();
  f(st);
}

result<std::string> self_executable() {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf));
  if (n < 0) {
    auto err = errno;
    return error{err, std::string{"cannot read /proc/self/exe: "}
                        + std::strerror(err)};
  }
  if (static_cast<size_t>(n) == sizeof(buf))
    return error{ENAMETOOLONG, "cannot read /proc/self/exe: the path of this "
                               "program is longer than 4095 bytes"};
  return std::string(buf, static_cast<size_t>(n));
}

} // namespace shmbus::process
