#include "child_process.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <utility>

#include <sys/prctl.h>
#include <unistd.h>

#include "shmbus/process/defaults.hpp"

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

/// Longest single wait for a child to end: os_process::wait_for does not
/// return on a signal, so the interrupt flag is checked this often.
constexpr auto interrupt_check_interval = std::chrono::milliseconds{100};

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
  return process::self_executable().value();
}

child_process child_process::spawn(const std::string& role,
                                   const role_args& args) {
  process::os_process::spawn_options opts;
  opts.executable = self_executable();
  opts.args = {role_flag, role};
  for (auto& word : args.to_words())
    opts.args.push_back(word);
  opts.capture_stdout = true;
  auto proc = process::os_process::spawn(opts);
  if (!proc)
    throw std::runtime_error(proc.err().message + " (role " + role + ")");
  return child_process{std::move(*proc)};
}

child_process::child_process(std::shared_ptr<process::os_process> proc)
  : proc_(std::move(proc)), stdout_(proc_->take_output_fds().first) {
  // nop
}

void child_process::kill_and_reap() noexcept {
  if (proc_)
    proc_->kill_and_reap(process::defaults::reap_timeout);
}

bool child_process::exited_cleanly() const {
  auto st = proc_->status();
  return st && st->success();
}

std::optional<std::string> child_process::read_line(const deadline& until) {
  for (;;) {
    throw_if_interrupted();
    // Returns early when SIGINT/SIGTERM interrupts the wait.
    if (auto line = stdout_.read_line(until.remaining()))
      return line;
    if (stdout_.at_end() || until.expired())
      return std::nullopt;
  }
}

std::optional<std::string> child_process::wait(const deadline& until) {
  for (;;) {
    throw_if_interrupted();
    auto slice = std::min<std::chrono::milliseconds>(until.remaining(),
                                                     interrupt_check_interval);
    if (auto st = proc_->wait_for(slice))
      return to_string(*st);
    if (until.expired())
      return std::nullopt;
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
