// A supervisor of module processes holds a handle of the bus node, not a
// reference: the node may stop first.
#include <doctest/doctest.h>

#include <csignal>

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
