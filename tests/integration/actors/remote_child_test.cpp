// Supervised actors that live in a module process (remote_child): started by
// remote spawn into the process that publishes a name, restarted after they
// quit, and after their process was killed with SIGKILL and restarted by a
// module child that comes first in a rest_for_one tree.
#include <doctest/doctest.h>

#include <csignal>
#include <string>
#include <vector>

#include <sys/prctl.h>
#include <unistd.h>

#include "module_helpers.hpp"
#include "role_helpers.hpp"
#include "shmbus/actors/module_main.hpp"
#include "shmbus/actors/remote_child.hpp"

using namespace shmbus;
using namespace shmbus::test;
using supervision::child_state;

namespace {

/// Answers "pid" with its process id; quits with sec::runtime_error on
/// "quit". (An argument on purpose: see echo_actor; by value, as CAF 0.17
/// matches the factory's parameter types against the arguments exactly.)
caf::behavior worker_actor(caf::event_based_actor* self, std::string tag) {
  return {
    [=](const std::string& x) -> std::string {
      if (x == "quit")
        self->quit(caf::make_error(caf::sec::runtime_error, "asked to quit"));
      if (x == "pid")
        return std::to_string(::getpid());
      return tag;
    },
  };
}

struct host_config : bus::config {
  host_config() {
    add_actor_type("worker", worker_actor);
  }
};

supervision::supervisor_flags flags(supervision::restart_strategy strategy) {
  supervision::supervisor_flags result;
  result.strategy = strategy;
  result.intensity = 5;
  result.period = 10s;
  result.name = "tier";
  return result;
}

actors::remote_child_spec worker_spec(const std::string& host) {
  actors::remote_child_spec spec;
  spec.id = "worker";
  spec.host = host;
  spec.type = "worker";
  spec.args = caf::make_message(std::string{"w1"});
  return spec;
}

/// A rest_for_one supervisor of a "spawn-host" module publishing "host" and
/// a worker placed into it.
caf::actor start_tier(module_fixture& f) {
  auto host = f.module("host", {}, {"host"});
  host.args = {"--child", "spawn-host"};
  return f.start(flags(supervision::restart_strategy::rest_for_one),
                 {actors::module_child(host, f.node),
                  actors::remote_child(worker_spec("host"), f.node)});
}

/// The pid the actor `x` reports.
int pid_reported_by(module_fixture& f, const caf::actor& x) {
  int result = 0;
  (*f.self)
    ->request(x, std::chrono::seconds{5}, std::string{"pid"})
    .receive([&](std::string& pid) { result = std::stoi(pid); },
             [&](caf::error& err) { FAIL_CHECK(f.render(err)); });
  return result;
}

} // namespace

// A module (run_module) that registers the actor type "worker" and
// publishes an echo actor as "host". args: the --shmbus.* flags.
SHMBUS_CHILD_ROLE("spawn-host") {
  ::prctl(PR_SET_PDEATHSIG, 0);
  host_config cfg;
  std::vector<std::string> storage{"spawn-host"};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& x : storage)
    argv.push_back(x.data());
  argv.push_back(nullptr);
  return actors::run_module(
    cfg, static_cast<int>(storage.size()), argv.data(),
    [](caf::actor_system& sys, bus::node& node) -> caf::expected<std::vector<caf::actor>> {
      auto echo = sys.spawn(echo_actor, std::string{"host"});
      if (auto err = node.publish(echo, "host"))
        return err;
      return std::vector<caf::actor>{echo};
    });
}

TEST_CASE("a remote child runs in the module that publishes its host name and is restarted "
          "after it quits") {
  module_fixture f{"rchild-quit"};
  auto sup = start_tier(f);
  auto first = f.child(sup, "worker");
  REQUIRE(first.state == child_state::running);
  auto host_pid = f.pid_behind("host");
  REQUIRE(host_pid);
  CHECK(pid_reported_by(f, first.handle) == *host_pid);
  CHECK(actors::process_id_of(first.handle) == host_pid);
  // The actor quits: its real reason reaches the supervisor, which starts a
  // new one in the same process (the host did not fail).
  caf::anon_send(first.handle, std::string{"quit"});
  auto again = f.await_restart(sup, "worker", first.handle, 10000ms);
  REQUIRE_MESSAGE(again, "the worker was not restarted");
  CHECK(again->restarts == 1);
  CHECK_MESSAGE(again->last_exit_reason == caf::sec::runtime_error,
                f.render(again->last_exit_reason));
  CHECK(pid_reported_by(f, again->handle) == *host_pid);
  CHECK(f.child(sup, "host").restarts == 0);
}

TEST_CASE("a remote child whose module is killed with SIGKILL is restarted in the restarted "
          "module") {
  module_fixture f{"rchild-kill"};
  auto sup = start_tier(f);
  auto first = f.child(sup, "worker");
  auto old_host = f.child(sup, "host").handle;
  auto pid = f.pid_behind("host");
  REQUIRE(pid);
  REQUIRE(::kill(*pid, SIGKILL) == 0);
  // The worker's proxy goes down with its process.
  auto reason = f.down_reason(first.handle, 5000ms);
  REQUIRE(reason);
  CHECK_MESSAGE(*reason == caf::exit_reason::remote_link_unreachable, f.render(*reason));
  // The module child comes first: a new process, then a new worker in it.
  auto new_host = f.await_restart(sup, "host", old_host, 15000ms);
  REQUIRE_MESSAGE(new_host, "the host module was not restarted");
  auto worker = f.await_restart(sup, "worker", first.handle, 15000ms);
  REQUIRE_MESSAGE(worker, "the worker was not restarted");
  auto new_pid = f.pid_behind("host");
  REQUIRE(new_pid);
  CHECK(*new_pid != *pid);
  CHECK(pid_reported_by(f, worker->handle) == *new_pid);
}

TEST_CASE("a remote child whose host name nobody publishes fails to start, naming the host") {
  module_fixture f{"rchild-nohost"};
  auto spec = worker_spec("nobody-publishes-this");
  spec.host_wait = 300ms;
  auto sup = f.try_start(flags(supervision::restart_strategy::one_for_one),
                         {actors::remote_child(spec, f.node)});
  REQUIRE_FALSE(sup);
  CHECK_MESSAGE(contains(f.render(sup.error()), "nobody-publishes-this"),
                f.render(sup.error()));
}
