// A supervisor of module processes holds a handle of the bus node, not a
// reference: the node may stop first. A module program whose server is lost
// ends in order (the seed's "restart both").
#include <doctest/doctest.h>

#include <csignal>
#include <string>

#include <unistd.h>

#include "module_helpers.hpp"

using namespace shmbus;
using namespace shmbus::test;

TEST_CASE("a supervisor whose module child outlives its node's stop shuts down cleanly") {
  module_fixture f{"mod-nodestop"};
  auto spec = f.module("echo", {"publish=echo"}, {"echo"});
  supervision::supervisor_flags flags;
  flags.intensity = 3;
  flags.period = 10s;
  auto sup = f.start(flags, {actors::module_child(spec, f.node)});
  auto pid = f.pid_behind("echo", 0s);
  REQUIRE(pid);
  f.node.stop();
  f.node = bus::node{}; // the supervisor's handle is the last one here
  // The module actor can no longer ask over the bus: its stop sequence goes
  // by signals, and restarts fail with not_attached instead of touching a
  // bus that is gone.
  (*f.self)->send_exit(sup, caf::exit_reason::user_shutdown);
  auto why = f.down_reason(sup, 15s);
  REQUIRE_MESSAGE(why, "the supervisor did not go down within 15 s");
  CHECK(wait_until([&] { return ::kill(*pid, 0) != 0; }, 10s));
  auto zs = zombie_children();
  CHECK_MESSAGE(zs.empty(), "zombie children: " << render_pids(zs));
}

TEST_CASE("a module whose server is lost lets its actors see the down messages, "
          "stops them and exits with 75") {
  scoped_bus bus{"mod-server-lost"};
  auto server = child_process::spawn("plain-server", {bus.name});
  REQUIRE(server.expect_line("ready", 10s));
  auto module = child_process::spawn("module", {"watch=srv.echo", "--shmbus.bus=" + bus.name});
  REQUIRE(module.expect_line("watching", 10s));
  server.signal(SIGKILL);
  auto down = module.read_line(5s);
  REQUIRE_MESSAGE(down, "the module printed nothing after its server was killed");
  CHECK_MESSAGE(down->rfind("down ", 0) == 0, *down);
  CHECK_MESSAGE(down->find("remote_link_unreachable") != std::string::npos, *down);
  // The handshake: the watcher saw the down_msg before run_module's exit.
  auto exit = module.read_line(5s);
  REQUIRE_MESSAGE(exit, "the module's actor was not stopped");
  CHECK_MESSAGE(exit->rfind("exit ", 0) == 0, *exit);
  CHECK_MESSAGE(exit->find("user_shutdown") != std::string::npos, *exit);
  auto status = module.wait(10s);
  REQUIRE(status);
  CHECK_MESSAGE((status->exited && status->code == 75), status->to_string());
}
