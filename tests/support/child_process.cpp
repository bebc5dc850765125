#include "child_process.hpp"

#include <stdexcept>
#include <utility>

namespace shmbus::test {

namespace {

using clock_type = std::chrono::steady_clock;

std::chrono::milliseconds remaining(clock_type::time_point until) {
  auto left = until - clock_type::now();
  return left <= left.zero()
           ? std::chrono::milliseconds{0}
           : std::chrono::ceil<std::chrono::milliseconds>(left);
}

} // namespace

std::string exit_status::to_string() const {
  if (exited)
    return "exited with code " + std::to_string(code);
  if (signaled)
    return "killed by signal " + std::to_string(signal);
  return "ended (status unknown)";
}

std::string self_executable() {
  return process::self_executable().value();
}

child_process child_process::spawn(const std::string& role,
                                   const std::vector<std::string>& args) {
  std::vector<std::string> all{"--child", role};
  all.insert(all.end(), args.begin(), args.end());
  return run(self_executable(), all);
}

child_process child_process::run(const std::string& executable,
                                 const std::vector<std::string>& args,
                                 std::vector<std::pair<std::string, std::string>> env) {
  process::os_process::spawn_options opts;
  opts.executable = executable;
  opts.args = args;
  opts.env = std::move(env);
  opts.capture_stdout = true;
  auto proc = process::os_process::spawn(opts);
  if (!proc)
    throw std::runtime_error("cannot start " + executable + ": " + proc.err().message);
  return child_process{std::move(*proc)};
}

child_process::child_process(std::shared_ptr<process::os_process> proc)
  : proc_(std::move(proc)), stdout_(proc_->take_output_fds().first) {
  // nop
}

std::optional<std::string>
child_process::read_line(std::chrono::milliseconds deadline) {
  auto until = clock_type::now() + deadline;
  for (;;) {
    if (auto line = stdout_.read_line(remaining(until)))
      return line;
    if (stdout_.at_end() || clock_type::now() >= until)
      return std::nullopt;
  }
}

bool child_process::expect_line(const std::string& line,
                                std::chrono::milliseconds deadline) {
  auto until = clock_type::now() + deadline;
  for (;;) {
    auto got = read_line(remaining(until));
    if (!got)
      return false;
    if (*got == line)
      return true;
  }
}

void child_process::signal(int sig) {
  proc_->signal(sig);
}

std::optional<exit_status>
child_process::wait(std::chrono::milliseconds deadline) {
  auto st = proc_->wait_for(deadline);
  if (!st)
    return std::nullopt;
  exit_status result;
  switch (st->how) {
    case process::process_status::kind::exited:
      result.exited = true;
      result.code = st->value;
      break;
    case process::process_status::kind::signaled:
      result.signaled = true;
      result.signal = st->value;
      break;
    case process::process_status::kind::unknown:
      break;
  }
  return result;
}

} // namespace shmbus::test
