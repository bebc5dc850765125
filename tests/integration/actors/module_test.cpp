// Module processes under a supervisor, with a real bus server in the test
// process: start, output forwarding, restarts after kill -9, SIGSTOP (hang)
// and crashes at start, the stop sequence, and no zombie in any of them.
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <fstream>

#include <unistd.h>

#include "module_helpers.hpp"

using namespace shmbus;
using namespace shmbus::test;
using supervision::child_state;
using actors::output_stream;

namespace {

supervision::supervisor_flags flags(size_t intensity = 3) {
  supervision::supervisor_flags result;
  result.intensity = intensity;
  result.period = 10s;
  result.name = "modules";
  return result;
}

void check_no_zombies() {
  auto zs = zombie_children();
  CHECK_MESSAGE(zs.empty(), "zombie children: " << render_pids(zs));
}

} // namespace

TEST_CASE("a module counts as started once its names resolve to its process") {
  module_fixture f{"mod-start"};
  auto spec = f.module("echo", {"publish=echo", "publish=echo2"},
                       {"echo", "echo2"});
  auto sup = f.start(flags(), {actors::module_child(spec, f.node)});
  auto info = f.child(sup, "echo");
  CHECK_EQ(info.state, child_state::running);
  auto pid = f.pid_behind("echo", 0s);
  REQUIRE(pid);
  CHECK_EQ(f.pid_behind("echo2", 0s), pid);
  CHECK_NE(*pid, ::getpid());
}

TEST_CASE("a module's stdout and stderr lines are forwarded with its name as prefix") {
  // Declared first, destroyed last: the module writes until it is stopped.
  output_recorder out;
  module_fixture f{"mod-output"};
  auto spec = f.module("talker",
                       {"publish=talker", "say=hello from stdout",
                        "warn=hello from stderr"},
                       {"talker"});
  spec.output = out.sink();
  f.start(flags(), {actors::module_child(spec, f.node)});
  CHECK_MESSAGE(wait_until([&] {
                  return out.has(output_stream::out, "[talker] hello from stdout")
                         && out.has(output_stream::err,
                                    "[talker] hello from stderr");
                }, 5000ms),
                out.all());
}

TEST_CASE("a module killed with SIGKILL is restarted with a new pid and its "
          "name resolves again") {
  module_fixture f{"mod-kill"};
  auto spec = f.module("echo", {"publish=echo"}, {"echo"});
  auto sup = f.start(flags(), {actors::module_child(spec, f.node)});
  auto first = f.child(sup, "echo").handle;
  auto pid = f.pid_behind("echo", 0s);
  REQUIRE(pid);
  REQUIRE_EQ(::kill(*pid, SIGKILL), 0);
  auto reason = f.down_reason(first, 5000ms);
  REQUIRE(reason);
  CHECK_EQ(*reason, actors::errc::module_killed);
  auto text = f.render(*reason);
  CHECK_MESSAGE(contains(text, "module 'echo' (pid " + std::to_string(*pid)
                                 + ") was killed by signal 9 (SIGKILL)"),
                text);
  auto restarted = f.await_restart(sup, "echo", first, 5000ms);
  REQUIRE(restarted);
  CHECK_EQ(restarted->restarts, 1u);
  CHECK_EQ(restarted->last_exit_reason, actors::errc::module_killed);
  auto new_pid = f.pid_behind("echo");
  REQUIRE(new_pid);
  CHECK_NE(*new_pid, *pid);
  check_no_zombies();
}

TEST_CASE("a module that exits with a code is restarted and the code shows "
          "in which_children") {
  module_fixture f{"mod-exit-code"};
  auto spec = f.module("echo", {"publish=echo"}, {"echo"});
  auto sup = f.start(flags(), {actors::module_child(spec, f.node)});
  auto first = f.child(sup, "echo").handle;
  auto pid = f.pid_behind("echo", 0s);
  REQUIRE(pid);
  auto echo = f.node.lookup("echo");
  REQUIRE(echo);
  caf::anon_send(*echo, std::string{"exit:7"});
  auto restarted = f.await_restart(sup, "echo", first, 5000ms);
  REQUIRE(restarted);
  CHECK_EQ(restarted->last_exit_reason, actors::errc::module_exited);
  auto text = f.render(restarted->last_exit_reason);
  CHECK_MESSAGE(contains(text, "module 'echo' (pid " + std::to_string(*pid)
                                 + ") exited with code 7"),
                text);
  check_no_zombies();
}

TEST_CASE("a transient module that exits with code 0 went down normally and "
          "stays stopped") {
  module_fixture f{"mod-transient"};
  auto spec = f.module("echo", {"publish=echo"}, {"echo"});
  auto sup = f.start(flags(), {actors::module_child(
                                spec, f.node, supervision::restart_type::transient)});
  auto first = f.child(sup, "echo").handle;
  auto echo = f.node.lookup("echo");
  REQUIRE(echo);
  caf::anon_send(*echo, std::string{"exit:0"});
  auto reason = f.down_reason(first, 5000ms);
  REQUIRE(reason);
  CHECK_EQ(*reason, caf::exit_reason::normal);
  // Our down_msg may overtake the supervisor's: wait until it has decided.
  supervision::child_info info;
  REQUIRE(wait_until(
    [&] {
      info = f.child(sup, "echo");
      return info.handle != first;
    },
    5000ms));
  CHECK_EQ(info.state, child_state::stopped);
  CHECK_EQ(info.restarts, 0u);
  check_no_zombies();
}

TEST_CASE("a stopped (hung) module is killed by the bus after the heartbeat "
          "timeout and restarted") {
  module_fixture f{"mod-hang"};
  auto spec = f.module("echo", {"publish=echo"}, {"echo"});
  auto sup = f.start(flags(), {actors::module_child(spec, f.node)});
  auto first = f.child(sup, "echo").handle;
  auto pid = f.pid_behind("echo", 0s);
  REQUIRE(pid);
  REQUIRE_EQ(::kill(*pid, SIGSTOP), 0);
  auto reason = f.down_reason(first, 5000ms);
  REQUIRE(reason);
  CHECK_EQ(*reason, actors::errc::module_hung);
  auto text = f.render(*reason);
  CHECK_MESSAGE(contains(text, "heartbeat"), text);
  auto restarted = f.await_restart(sup, "echo", first, 5000ms);
  REQUIRE(restarted);
  CHECK_EQ(restarted->last_exit_reason, actors::errc::module_hung);
  auto new_pid = f.pid_behind("echo");
  REQUIRE(new_pid);
  CHECK_NE(*new_pid, *pid);
  check_no_zombies();
}

TEST_CASE("a module that exits at every start makes its supervisor give up") {
  module_fixture f{"mod-crashloop"};
  auto marker = "/tmp/shmbus-test-" + f.bus.name + ".fail";
  auto spec = f.module("flaky", {"publish=flaky", "fail-if-exists=" + marker},
                       {"flaky"});
  auto sup = f.start(flags(2), {actors::module_child(spec, f.node)});
  std::ofstream{marker} << "fail\n";
  auto pid = f.pid_behind("flaky", 0s);
  REQUIRE(pid);
  REQUIRE_EQ(::kill(*pid, SIGKILL), 0);
  auto reason = f.down_reason(sup, 10000ms);
  std::remove(marker.c_str());
  REQUIRE(reason);
  CHECK_EQ(*reason, supervision::errc::restart_intensity_exceeded);
  auto text = f.render(*reason);
  CHECK_MESSAGE(contains(text, "did not publish 'flaky'"), text);
  CHECK_MESSAGE(contains(text, "exited with code 3 meanwhile"), text);
  check_no_zombies();
}

TEST_CASE("a module that does not publish its names in time fails to start "
          "and is reaped") {
  module_fixture f{"mod-timeout"};
  auto spec = f.module("silent", {"publish=other"}, {"silent"});
  spec.start_timeout = 300ms;
  auto sup = f.try_start(flags(), {actors::module_child(spec, f.node)});
  REQUIRE_FALSE(sup);
  CHECK_EQ(sup.error(), supervision::errc::child_start_failed);
  auto text = f.render(sup.error());
  CHECK_MESSAGE(contains(text, "module 'silent' (pid "), text);
  CHECK_MESSAGE(contains(text, "did not publish 'silent' within 300 ms"), text);
  check_no_zombies();
}

TEST_CASE("a module asked to stop over the bus exits and counts as shut down") {
  module_fixture f{"mod-stop"};
  auto spec = f.module("echo", {"publish=echo"}, {"echo"});
  spec.term_after = 5s;   // would show in the reason if it were needed
  spec.kill_after = 8s;
  auto sup = f.start(flags(), {actors::module_child(spec, f.node)});
  auto t0 = std::chrono::steady_clock::now();
  auto err = supervision::terminate_child(**f.self, sup, "echo");
  auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE_MESSAGE(!err, f.render(err));
  auto info = f.child(sup, "echo");
  CHECK_EQ(info.state, child_state::stopped);
  CHECK_EQ(info.last_exit_reason, caf::exit_reason::user_shutdown);
  CHECK(took < 5s); // honoured the request: no SIGTERM was needed
  check_no_zombies();
}

TEST_CASE("a module ignoring the stop request gets SIGTERM") {
  module_fixture f{"mod-sigterm"};
  auto spec = f.module("stubborn", {"publish=stubborn", "ignore-stop-request"},
                       {"stubborn"});
  spec.term_after = 200ms;
  spec.kill_after = 5s;
  auto sup = f.start(flags(), {actors::module_child(spec, f.node)});
  REQUIRE(!supervision::terminate_child(**f.self, sup, "stubborn"));
  auto info = f.child(sup, "stubborn");
  CHECK_EQ(info.last_exit_reason, actors::errc::module_killed);
  auto text = f.render(info.last_exit_reason);
  CHECK_MESSAGE(contains(text, "killed by signal 15 (SIGTERM)"), text);
  check_no_zombies();
}

TEST_CASE("a module ignoring the stop request and SIGTERM gets SIGKILL") {
  module_fixture f{"mod-sigkill"};
  auto spec = f.module("deaf", {"publish=deaf", "ignore-sigterm"}, {"deaf"});
  spec.term_after = 100ms;
  spec.kill_after = 400ms;
  auto sup = f.start(flags(), {actors::module_child(spec, f.node)});
  REQUIRE(!supervision::terminate_child(**f.self, sup, "deaf"));
  auto info = f.child(sup, "deaf");
  CHECK_EQ(info.last_exit_reason, actors::errc::module_killed);
  auto text = f.render(info.last_exit_reason);
  CHECK_MESSAGE(contains(text, "ignored the stop request and SIGTERM for 400 ms "
                               "and was killed by signal 9 (SIGKILL)"),
                text);
  check_no_zombies();
}

TEST_CASE("a killed supervisor leaves no module process behind") {
  module_fixture f{"mod-sup-killed"};
  auto spec = f.module("echo", {"publish=echo"}, {"echo"});
  auto sup = f.start(flags(), {actors::module_child(spec, f.node)});
  auto pid = f.pid_behind("echo", 0s);
  REQUIRE(pid);
  (*f.self)->send_exit(sup, caf::exit_reason::kill);
  REQUIRE(f.down_reason(sup, 5000ms));
  // The module actor SIGKILLs and reaps its process when it is killed.
  CHECK(wait_until([&] { return ::kill(*pid, 0) == -1; }, 5000ms));
  check_no_zombies();
}

TEST_CASE("a process that exits with modules still running takes them along") {
  scoped_bus bus{"mod-exit"};
  auto server = child_process::spawn("exit-with-module", {bus.name});
  auto line = server.read_line(10000ms);
  REQUIRE(line);
  REQUIRE(line->rfind("module pid ", 0) == 0);
  auto module = std::stoi(line->substr(11));
  auto st = server.wait(10000ms);
  REQUIRE(st);
  CHECK_EQ(st->to_string(), "exited with code 0");
  // Killed and reaped during exit(), not left to notice its lost server.
  CHECK_EQ(::kill(module, 0), -1);
}
