// Child processes without a bus: spawning, signals, reaping, and the
// forwarding of their output, line by line, with a prefix.
#include <doctest/doctest.h>

#include <atomic>
#include <csignal>
#include <mutex>

#include <unistd.h>

#include "child_process.hpp"
#include "module_helpers.hpp"
#include "shmbus/actors/os_process.hpp"
#include "shmbus/actors/process_status.hpp"
#include "shmbus/actors/process_watcher.hpp"
#include "wait.hpp"

using namespace shmbus;
using namespace shmbus::test;
using actors::os_process;
using actors::process_status;
using actors::process_watcher;

namespace {

std::shared_ptr<os_process> spawn_role(const std::string& role,
                                       std::vector<std::string> args = {},
                                       bool capture = true) {
  os_process::spawn_options opts;
  opts.executable = self_executable();
  opts.args = {"--child", role};
  opts.args.insert(opts.args.end(), args.begin(), args.end());
  opts.capture_output = capture;
  auto proc = os_process::spawn(opts);
  REQUIRE_MESSAGE(proc, caf::to_string(proc.error()));
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
  auto text = caf::to_string(proc.error());
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
  opts.capture_output = true;
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
