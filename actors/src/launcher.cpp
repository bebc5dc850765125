#include "shmbus/actors/launcher.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error_text.hpp"
#include "ready_listener.hpp"
#include "shmbus/actors/launcher_config.hpp"
#include "shmbus/log/logger.hpp"
#include "shmbus/process/defaults.hpp"
#include "shmbus/process/os_process.hpp"
#include "shmbus/process/process_tree.hpp"
#include "shmbus/process/process_watcher.hpp"
#include "shmbus/supervision/backoff_options.hpp"
#include "shmbus/supervision/restart_intensity.hpp"
#include "shmbus/transport/bus_name.hpp"
#include "shmbus/transport/segment.hpp"

namespace shmbus::actors {

namespace {

using process::children_of;
using process::os_process;
using process::process_status;
using process::process_watcher;
using process::signal_name;

using clock_type = std::chrono::steady_clock;

/// Upper bound of one wait: the loops re-check their deadlines on their own.
constexpr int max_poll_ms = 1000;

int poll_ms(clock_type::time_point until) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
    until - clock_type::now());
  if (left.count() <= 0)
    return 0;
  // Round up so that a wait never ends just before its deadline and spins.
  return static_cast<int>(std::min<int64_t>(left.count() + 1, max_poll_ms));
}

std::string describe(pid_t pid, const process_status& st) {
  return "server (pid " + std::to_string(pid) + ") " + to_string(st);
}

} // namespace

launcher::launcher(launcher_options opts, log_function log, notify_function notify)
  : opts_(std::move(opts)),
    log_(std::move(log)),
    notify_(std::move(notify)),
    ready_(std::make_unique<ready_listener>()) {
  sigemptyset(&old_mask_);
}

launcher::~launcher() {
  if (signal_fd_ >= 0)
    ::close(signal_fd_);
  if (mask_changed_)
    ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

int launcher::run() {
  if (auto err = opts_.validate()) {
    log(caf::to_string(err));
    return exit_usage;
  }
  // Signals arrive through a descriptor, so that one poll waits for them and
  // for the server together.
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD})
    sigaddset(&mask, sig);
  if (::pthread_sigmask(SIG_BLOCK, &mask, &old_mask_) != 0) {
    log("cannot block signals: " + std::string{std::strerror(errno)});
    return exit_gave_up;
  }
  mask_changed_ = true;
  signal_fd_ = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd_ < 0) {
    log("signalfd failed: " + std::string{std::strerror(errno)});
    return exit_gave_up;
  }
  // Modules orphaned by a dead server become our children: we reap them and
  // know when the last client of the old server is gone.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  if (!take_lock())
    return exit_launcher_running;
  if (auto err = ready_->open(opts_.bus))
    log(err.message + "; the server's readiness will not be reported");
  auto code = run_servers();
  release_lock();
  return code;
}

int launcher::run_servers() {
  supervision::restart_intensity intensity{opts_.max_restarts,
                                           opts_.restart_period};
  supervision::backoff_options backoff;
  backoff.min_delay = opts_.restart_delay;
  backoff.max_delay = opts_.max_restart_delay;
  backoff.random_factor = 0.0;
  size_t attempt = 0;
  for (;;) {
    os_process::spawn_options so;
    so.executable = opts_.executable;
    so.args = opts_.server_arguments();
    if (ready_->fd() >= 0)
      so.env.emplace_back(ready_socket_env, ready_->name());
    auto server = os_process::spawn(so);
    if (!server) {
      log(server.err().message);
      return exit_gave_up;
    }
    auto pid = (*server)->pid();
    log("server started pid " + std::to_string(pid) + " on bus '" + opts_.bus
        + "'");
    auto started_at = clock_type::now();
    auto st = supervise(**server);
    server->reset();
    if (stop_requested_) {
      log(describe(pid, st) + " after " + signal_name(stop_signal_)
          + "; stopping");
      wait_for_orphans();
      return exit_done;
    }
    if (st.success()) {
      log(describe(pid, st) + "; done");
      wait_for_orphans();
      return exit_done;
    }
    wait_for_orphans();
    if (stop_requested_) {
      log(describe(pid, st) + "; not restarting it: "
          + signal_name(stop_signal_) + " received");
      return exit_done;
    }
    if (!lock_still_ours())
      return exit_launcher_running;
    auto now = clock_type::now();
    if (now - started_at >= opts_.restart_period)
      attempt = 0; // it ran long enough: start over at the first delay
    if (!intensity.add_restart(now)) {
      log(describe(pid, st) + "; giving up: more than "
          + std::to_string(opts_.max_restarts) + " restart(s) within "
          + describe_duration(opts_.restart_period));
      return exit_gave_up;
    }
    auto delay = backoff.delay_for(attempt++, 0.0);
    log(describe(pid, st) + ", restarting in " + describe_duration(delay));
    notify("STATUS=" + describe(pid, st) + ", restarting in " + describe_duration(delay));
    if (stopped_during(delay)) {
      log(signal_name(stop_signal_) + " received; not restarting the server");
      return exit_done;
    }
  }
}

bool launcher::take_lock() {
  auto lock = transport::bus_lock::open(opts_.bus, true, transport::defaults::file_mode);
  if (!lock) {
    log("cannot open the lock file of bus '" + opts_.bus
        + "': " + lock.err().message);
    return false;
  }
  if (!lock->try_lock(transport::bus_lock::launcher_byte,
                      transport::bus_lock::mode::exclusive)) {
    log("bus '" + opts_.bus
        + "' already has a launcher (it holds the launcher lock of "
        + lock->path()
        + "); stop that shmbus-launch first or use another bus name");
    return false;
  }
  lock_ = std::move(*lock);
  return true;
}

void launcher::release_lock() {
  // The lock file goes with the last user of the bus, as when a server
  // leaves a bus without clients; a stale segment keeps it for
  // `shmbusctl clean`.
  using transport::bus_lock;
  if (lock_.valid() && lock_.still_linked()
      && !transport::segment::exists(opts_.bus)
      && lock_.try_lock(bus_lock::server_byte, bus_lock::mode::exclusive)
      && lock_.try_lock(bus_lock::members_byte, bus_lock::mode::exclusive))
    ::unlink(lock_.path().c_str());
  lock_ = transport::bus_lock{};
}

bool launcher::lock_still_ours() {
  // A server that leaves a bus without clients removes its lock file, and
  // our lock with it: take it again on the new file.
  if (lock_.still_linked())
    return true;
  return take_lock();
}

process_status launcher::supervise(os_process& server) {
  constexpr auto never = clock_type::time_point::max();
  auto kill_at = never; // set once a stop signal was forwarded
  for (;;) {
    if (auto st = server.try_reap())
      return *st;
    auto until = std::min(kill_at, clock_type::now()
                                     + std::chrono::milliseconds{max_poll_ms});
    // Without a pidfd, SIGCHLD still wakes us; without a ready socket
    // (fd -1), poll skips its entry.
    pollfd fds[3] = {{signal_fd_, POLLIN, 0},
                     {ready_->fd(), POLLIN, 0},
                     {server.pidfd(), POLLIN, 0}};
    auto rc = ::poll(fds, server.pidfd() >= 0 ? 3 : 2, poll_ms(until));
    if (rc < 0 && errno != EINTR) {
      log("poll failed: " + std::string{std::strerror(errno)});
      server.kill_and_reap(process::defaults::reap_timeout);
    }
    if (fds[1].revents != 0 && ready_->ready_from(server.pid())) {
      log("server pid " + std::to_string(server.pid()) + " is ready");
      notify("READY=1\nSTATUS=server pid " + std::to_string(server.pid())
             + " is ready on bus '" + opts_.bus + "'");
    }
    if (fds[0].revents != 0) {
      auto first_stop = !stop_requested_;
      if (handle_signals(server.pid())) {
        if (first_stop) {
          log(signal_name(stop_signal_) + " received: stopping server pid "
              + std::to_string(server.pid()));
          notify("STOPPING=1");
          server.signal(stop_signal_ == SIGINT ? SIGINT : SIGTERM);
          kill_at = clock_type::now() + opts_.stop_timeout;
        } else {
          log(signal_name(stop_signal_)
              + " received again: killing server pid "
              + std::to_string(server.pid()));
          server.signal(SIGKILL);
        }
      }
    }
    if (kill_at != never && clock_type::now() >= kill_at) {
      log("server pid " + std::to_string(server.pid())
          + " did not stop within " + describe_duration(opts_.stop_timeout)
          + ": SIGKILL");
      server.signal(SIGKILL);
      kill_at = never;
    }
  }
}

void launcher::wait_for_orphans() {
  reap_children(-1);
  auto until = clock_type::now() + opts_.orphan_timeout;
  for (;;) {
    auto left = children_of(::getpid());
    if (left.empty())
      return;
    if (clock_type::now() >= until) {
      for (auto& x : left) {
        log("orphan pid " + std::to_string(x.pid) + " still runs after "
            + describe_duration(opts_.orphan_timeout) + ": SIGKILL");
        ::kill(x.pid, SIGKILL);
      }
      // SIGKILLed processes end at once; bounded all the same.
      until = clock_type::now() + process::defaults::reap_timeout;
      while (!children_of(::getpid()).empty()
             && clock_type::now() < until) {
        pollfd fd{signal_fd_, POLLIN, 0};
        ::poll(&fd, 1, poll_ms(until));
        handle_signals(-1);
      }
      return;
    }
    pollfd fd{signal_fd_, POLLIN, 0};
    ::poll(&fd, 1, poll_ms(until));
    handle_signals(-1);
  }
}

bool launcher::stopped_during(caf::timespan delay) {
  auto until = clock_type::now() + delay;
  while (clock_type::now() < until) {
    pollfd fd{signal_fd_, POLLIN, 0};
    ::poll(&fd, 1, poll_ms(until));
    if (handle_signals(-1))
      return true;
  }
  return false;
}

bool launcher::handle_signals(pid_t server_pid) {
  bool stop = false;
  signalfd_siginfo info;
  while (::read(signal_fd_, &info, sizeof(info))
         == static_cast<ssize_t>(sizeof(info))) {
    auto sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGCHLD)
      continue; // reaped below, whatever number of them ended
    stop = true;
    stop_requested_ = true;
    stop_signal_ = sig;
  }
  reap_children(server_pid);
  return stop;
}

void launcher::reap_children(pid_t except) {
  // Only zombies, and never the server: its os_process reaps it and keeps
  // its status. Orphans are reaped by pid for the same reason.
  for (auto& x : children_of(::getpid())) {
    if (x.pid == except || x.state != 'Z')
      continue;
    int status = 0;
    if (::waitpid(x.pid, &status, WNOHANG) != x.pid)
      continue;
    auto st = WIFEXITED(status) ? process_status::exited(WEXITSTATUS(status))
                                : process_status::signaled(WTERMSIG(status));
    log("orphan pid " + std::to_string(x.pid) + " of the old server "
        + to_string(st));
  }
}

void launcher::log(const std::string& line) {
  if (log_)
    log_(line);
  else
    shmbus::log::write_line(STDOUT_FILENO, "[launch] " + line);
}

void launcher::notify(const std::string& state) {
  if (notify_)
    notify_(state);
}

int launcher_main(int argc, char** argv, launcher::notify_function notify) {
  launcher_config cfg;
  std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
  if (auto err = cfg.parse_command_line(std::move(args))) {
    shmbus::log::write_line(STDERR_FILENO, error_text(err));
    return launcher::exit_usage;
  }
  if (cfg.cli_helptext_printed)
    return launcher::exit_done;
  launcher l{std::move(cfg.options), {}, std::move(notify)};
  return l.run();
}

} // namespace shmbus::actors
