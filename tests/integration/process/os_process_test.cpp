// Child processes without CAF or a bus: spawning, signals, reaping, the
// forwarding of their output line by line with a prefix, and the test
// children, which are spawned the same way.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <pthread.h>
#include <unistd.h>

#include "text.hpp"
#include "child_process.hpp"
#include "shmbus/process/os_process.hpp"
#include "shmbus/process/process_status.hpp"
#include "shmbus/process/process_watcher.hpp"
#include "wait.hpp"
#include "zombie_check.hpp"

using namespace std::chrono_literals;
using namespace shmbus;
using namespace shmbus::test;
using process::os_process;
using process::process_status;
using process::process_watcher;

namespace {

std::shared_ptr<os_process> spawn_role(const std::string& role,
                                       std::vector<std::string> args = {},
                                       bool capture = true) {
  os_process::spawn_options opts;
  opts.executable = self_executable();
  opts.args = {"--child", role};
  opts.args.insert(opts.args.end(), args.begin(), args.end());
  opts.capture_stdout = capture;
  opts.capture_stderr = capture;
  auto proc = os_process::spawn(opts);
  REQUIRE_MESSAGE(proc, proc.err().message);
  return *proc;
}

/// Lines a watched process wrote, per stream.
struct line_log {
  std::mutex mtx;
  std::vector<std::string> out;
  std::vector<std::string> err;

  process_watcher::line_sink out_sink() {
    return [this](std::string_view x) {
      std::lock_guard<std::mutex> guard{mtx};
      out.emplace_back(x);
    };
  }

  process_watcher::line_sink err_sink() {
    return [this](std::string_view x) {
      std::lock_guard<std::mutex> guard{mtx};
      err.emplace_back(x);
    };
  }

  std::vector<std::string> out_lines() {
    std::lock_guard<std::mutex> guard{mtx};
    return out;
  }

  std::vector<std::string> err_lines() {
    std::lock_guard<std::mutex> guard{mtx};
    return err;
  }
};

} // namespace

TEST_CASE("a spawned process is reaped with its exit code") {
  auto proc = spawn_role("print", {"exit=7"}, false);
  auto st = proc->wait_for(5s);
  REQUIRE(st);
  CHECK_EQ(*st, process_status::exited(7));
  CHECK_EQ(to_string(*st), "exited with code 7");
  CHECK_FALSE(proc->signal(SIGTERM)); // reaped: its pid is not ours any more
  CHECK_MESSAGE(zombie_children().empty(), render_pids(zombie_children()));
}

TEST_CASE("a process killed by a signal reports the signal by name") {
  auto proc = spawn_role("pause", {}, false);
  REQUIRE(proc->signal(SIGKILL));
  auto st = proc->wait_for(5s);
  REQUIRE(st);
  CHECK_EQ(*st, process_status::signaled(SIGKILL));
  CHECK_EQ(to_string(*st), "killed by signal 9 (SIGKILL)");
}

TEST_CASE("dropping the last reference to a running process kills and reaps it") {
  auto proc = spawn_role("pause", {}, false);
  auto pid = proc->pid();
  proc.reset();
  CHECK_MESSAGE(zombie_children().empty(), render_pids(zombie_children()));
  CHECK_EQ(::kill(pid, 0), -1); // gone, not a zombie
}

TEST_CASE("a missing executable fails the spawn with a message naming it") {
  os_process::spawn_options opts;
  opts.executable = "/nonexistent/shmbus-module";
  auto proc = os_process::spawn(opts);
  REQUIRE_FALSE(proc);
  auto text = proc.err().message;
  CHECK_MESSAGE(contains(text, "/nonexistent/shmbus-module"), text);
  CHECK_MESSAGE(contains(text, "No such file"), text);
}

TEST_CASE("a spawned process inherits no descriptor beyond stdin, stdout and stderr") {
  // A descriptor that is not close-on-exec, like a lock file opened without
  // O_CLOEXEC: its OFD locks must not live on in a child.
  auto leaked = ::dup(STDIN_FILENO);
  REQUIRE(leaked > 2);
  line_log log;
  auto proc = spawn_role("fds");
  process_watcher::instance().watch(proc, "", log.out_sink(), log.err_sink());
  REQUIRE(proc->wait_for(5s));
  ::close(leaked);
  REQUIRE(wait_until([&] { return !log.out_lines().empty(); }, 5000ms));
  CHECK_EQ(log.out_lines().front(), "fds 0");
}

TEST_CASE("a spawned process sees its extra environment over ours") {
  ::setenv("SHMBUS_TEST_KEPT", "kept", 1);
  ::setenv("SHMBUS_TEST_REPLACED", "old", 1);
  line_log log;
  os_process::spawn_options opts;
  opts.executable = self_executable();
  opts.args = {"--child", "env", "SHMBUS_TEST_KEPT", "SHMBUS_TEST_REPLACED"};
  opts.env = {{"SHMBUS_TEST_REPLACED", "new"}};
  opts.capture_stdout = true;
  auto proc = os_process::spawn(opts);
  REQUIRE(proc);
  process_watcher::instance().watch(*proc, "", log.out_sink(), log.err_sink());
  REQUIRE(wait_until([&] { return log.out_lines().size() == 2; }, 5000ms));
  CHECK_EQ(log.out_lines()[0], "SHMBUS_TEST_KEPT=kept");
  CHECK_EQ(log.out_lines()[1], "SHMBUS_TEST_REPLACED=new");
}

TEST_CASE("the watcher forwards stdout and stderr line by line with the prefix, "
          "the last unterminated line included") {
  line_log log;
  auto proc = spawn_role("print", {"out=first", "out=second line", "err=oops",
                                   "tail=no newline", "exit=0"});
  std::atomic<bool> reaped{false};
  proc->on_reaped([&](const process_status&) { reaped = true; });
  process_watcher::instance().watch(proc, "[printer] ", log.out_sink(),
                                    log.err_sink());
  REQUIRE(wait_until(
    [&] { return reaped && log.out_lines().size() == 3; }, 5000ms));
  CHECK_EQ(log.out_lines(),
           std::vector<std::string>{"[printer] first", "[printer] second line",
                                    "[printer] no newline"});
  CHECK_EQ(log.err_lines(), std::vector<std::string>{"[printer] oops"});
}

TEST_CASE("the watcher reaps a watched process as soon as it ends and tells "
          "the listeners how") {
  auto proc = spawn_role("pause");
  std::mutex mtx;
  std::optional<process_status> seen;
  proc->on_reaped([&](const process_status& st) {
    std::lock_guard<std::mutex> guard{mtx};
    seen = st;
  });
  process_watcher::instance().watch(proc, "[pause] ");
  auto before = process_watcher::instance().running();
  CHECK(before >= 1);
  ::kill(proc->pid(), SIGTERM);
  REQUIRE(wait_until(
    [&] {
      std::lock_guard<std::mutex> guard{mtx};
      return seen.has_value();
    },
    5000ms));
  CHECK_EQ(*seen, process_status::signaled(SIGTERM));
  CHECK_EQ(proc->status(), seen);
  CHECK_MESSAGE(zombie_children().empty(), render_pids(zombie_children()));
}

TEST_CASE("a listener added after the process was reaped is called at once") {
  auto proc = spawn_role("print", {"exit=4"}, false);
  REQUIRE(proc->wait_for(5s));
  std::optional<process_status> seen;
  proc->on_reaped([&](const process_status& st) { seen = st; });
  CHECK_EQ(seen, process_status::exited(4));
}

TEST_CASE("a spawned process starts in its own process group with no signal "
          "blocked or ignored") {
  // What a test thread or a server may have changed must not leak into its
  // children: a child that ignores SIGTERM could not be stopped in order.
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigset_t old_mask;
  REQUIRE(::pthread_sigmask(SIG_BLOCK, &usr1, &old_mask) == 0);
  auto old_usr2 = std::signal(SIGUSR2, SIG_IGN);
  auto child = child_process::spawn("signal-state");
  std::signal(SIGUSR2, old_usr2);
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  auto pid = std::to_string(child.pid());
  auto no_line = std::string{"(no line)"};
  CHECK_EQ(child.read_line(5000ms).value_or(no_line),
           "pgid " + pid + " pid " + pid);
  CHECK_EQ(child.read_line(5000ms).value_or(no_line), "blocked 0");
  CHECK_EQ(child.read_line(5000ms).value_or(no_line), "ignored 0");
  auto st = child.wait(5000ms);
  REQUIRE(st);
  CHECK_MESSAGE(st->exited, st->to_string());
}

TEST_CASE("a test child's stdout reads line by line until the child closes it") {
  auto child = child_process::spawn("print", {"out=one", "out=two", "tail=cut"});
  CHECK_EQ(child.read_line(5000ms), "one");
  CHECK_EQ(child.read_line(5000ms), "two");
  // The unterminated tail is no line; the end of the output ends the wait.
  CHECK_FALSE(child.read_line(5000ms));
  REQUIRE(child.wait(5000ms));
  CHECK_MESSAGE(zombie_children().empty(), render_pids(zombie_children()));
}

TEST_CASE("reading a line from a silent child gives up at the deadline") {
  auto child = child_process::spawn("pause");
  REQUIRE(child.read_line(5000ms)); // "pausing <pid>"
  auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(child.read_line(50ms));
  CHECK(std::chrono::steady_clock::now() - start >= 50ms);
}

TEST_CASE("self_executable names the running test binary") {
  auto path = process::self_executable();
  REQUIRE_MESSAGE(path, path.err().message);
  CHECK_EQ(::access(path->c_str(), X_OK), 0);
  CHECK_EQ(*path, self_executable());
}
