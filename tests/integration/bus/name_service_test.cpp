// Lookups from actors through the bus's name service: they never block a
// thread, so the process keeps serving while an actor waits for a name.
#include <doctest/doctest.h>

#include "test_types.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

calc_actor::behavior_type adder() {
  return {[](int32_t a, int32_t b) { return a + b; }};
}

} // namespace

// args: bus. Publishes "echo" and "looker"; dispatch is inline (default), so
// the looker runs on the bus's I/O thread when a remote request wakes it.
SHMBUS_CHILD_ROLE("bus-looker") {
  child_bus<> p{args.at(0), "client", "looker"};
  p.publish(p.sys->spawn(doubler), "echo");
  p.publish(p.sys->spawn(looker, p.node), "looker");
  say("ready");
  p.await_stop();
  return 0;
}

TEST_CASE("an actor waiting for a name keeps its process serving, then gets the name") {
  scoped_bus bus{"ns-wait"};
  bus_process<test_config> server{bus.name, "server", "srv", slow_heartbeats};
  auto child = child_process::spawn("bus-looker", {bus.name});
  await_ready(child);
  auto looker = must_lookup(server.node, "looker");
  auto echo = must_lookup(server.node, "echo");
  // The looker waits up to 10 s for "late"; its answer comes to `waiter`.
  caf::scoped_actor waiter{*server.sys};
  auto pending = waiter->request(looker, 20s, find_atom::value, std::string{"late"},
                                 caf::timespan{10s});
  // Meanwhile the child's other actor answers every request. A lookup that
  // blocked the I/O thread would hold them all back for the full 10 s.
  caf::scoped_actor self{*server.sys};
  int answered = 0;
  for (int32_t i = 1; i <= 5; ++i)
    self->request(echo, 3s, i).receive([&](int32_t x) { answered += x == 2 * i ? 1 : 0; },
                                       [&](caf::error& err) {
                                         FAIL_CHECK(text(*server.sys, err));
                                       });
  CHECK(answered == 5);
  // Now the name comes, published by this process.
  auto late = server.sys->spawn(doubler);
  exit_on_scope_end guard{late};
  REQUIRE_FALSE(server.node.publish(late, "late"));
  caf::expected<caf::actor> found{caf::make_error(caf::sec::request_timeout)};
  pending.receive([&](caf::actor& x) { found = std::move(x); },
                  [&](caf::error& err) { found = std::move(err); });
  REQUIRE_MESSAGE(found, text(*server.sys, found.error()));
  CHECK(*found == late);
  stop_child(server.node, child);
}

TEST_CASE("a lookup from an actor for a name nobody publishes fails with name_not_found") {
  scoped_bus bus{"ns-missing"};
  bus_process<test_config> server{bus.name, "server", "srv", slow_heartbeats};
  auto child = child_process::spawn("bus-looker", {bus.name});
  await_ready(child);
  auto looker = must_lookup(server.node, "looker");
  caf::scoped_actor self{*server.sys};
  auto start = std::chrono::steady_clock::now();
  auto missing = child_lookup(self, looker, find_atom::value, "nobody", 300ms, 10s);
  auto took = elapsed_ms(start);
  REQUIRE_FALSE(missing);
  CHECK_MESSAGE(missing.error() == bus::errc::name_not_found,
                text(*server.sys, missing.error()));
  CHECK(text(*server.sys, missing.error()).find("nobody") != std::string::npos);
  CHECK(took >= 250);
  // Without a timeout: at once.
  auto now = child_lookup(self, looker, find_atom::value, "nobody", caf::timespan{0}, 10s);
  REQUIRE_FALSE(now);
  CHECK(now.error() == bus::errc::name_not_found);
  stop_child(server.node, child);
}

TEST_CASE("a typed lookup from an actor checks the interface") {
  scoped_bus bus{"ns-typed"};
  bus_process<test_config> server{bus.name, "server", "srv", slow_heartbeats};
  auto calc = server.sys->spawn(adder);
  auto plain = server.sys->spawn(doubler);
  exit_on_scope_end guard_calc{caf::actor_cast<caf::actor>(calc)};
  exit_on_scope_end guard_plain{plain};
  REQUIRE_FALSE(server.node.publish(calc, "calc"));
  REQUIRE_FALSE(server.node.publish(plain, "plain"));
  auto child = child_process::spawn("bus-looker", {bus.name});
  await_ready(child);
  auto looker = must_lookup(server.node, "looker");
  caf::scoped_actor self{*server.sys};
  auto typed = child_lookup(self, looker, find_calc_atom::value, "calc", 1s, 10s);
  REQUIRE_MESSAGE(typed, text(*server.sys, typed.error()));
  CHECK(*typed == caf::actor_cast<caf::actor>(calc));
  auto wrong = child_lookup(self, looker, find_calc_atom::value, "plain", 1s, 10s);
  REQUIRE_FALSE(wrong);
  CHECK_MESSAGE(wrong.error() == bus::errc::interface_mismatch,
                text(*server.sys, wrong.error()));
  stop_child(server.node, child);
}
