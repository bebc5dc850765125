// Names across processes: publish, unpublish, lookup (immediate and
// waiting), names of actors that quit, and typed lookups that check the
// interface.
#include <doctest/doctest.h>

#include "test_types.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

calc_actor::behavior_type adder() {
  return {[](int32_t a, int32_t b) { return a + b; }};
}

/// Publishes, unpublishes and stops actors of its process on request.
caf::behavior name_control(caf::event_based_actor* self, bus::node node) {
  using namespace std::chrono_literals;
  return {
    // Publishes a new doubler as `name` 100 ms from now.
    [=](caf::publish_atom, const std::string& name) {
      self->delayed_send(self, 100ms, tick_atom::value, name);
      return int32_t{0};
    },
    [=](tick_atom, const std::string& name) {
      if (auto err = node.publish(self->spawn(doubler), name))
        say("error: " + self->system().render(err));
    },
    [=](caf::unpublish_atom, const std::string& name) -> caf::result<int32_t> {
      if (auto err = node.unpublish(name))
        return err;
      return int32_t{0};
    },
    [=](quit_atom, caf::actor x) {
      self->send_exit(x, caf::exit_reason::user_shutdown);
      return int32_t{0};
    },
  };
}

} // namespace

// args: bus. Publishes "calc" (typed), "echo" (untyped), "control" and
// "mortal".
SHMBUS_CHILD_ROLE("bus-namer") {
  child_bus<> p{args.at(0), "client", "namer"};
  p.publish(p.sys->spawn(adder), "calc");
  p.publish(p.sys->spawn(doubler), "echo");
  p.publish(p.sys->spawn(doubler), "mortal");
  p.publish(p.sys->spawn(name_control, p.node), "control");
  say("ready");
  p.await_stop();
  return 0;
}

TEST_CASE("a name published by another process resolves to an actor that answers") {
  scoped_bus bus{"names-publish"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("bus-namer", {bus.name});
  await_ready(child);
  // Published before "ready": an immediate lookup finds it.
  auto echo = server.node.lookup("echo");
  REQUIRE_MESSAGE(echo, text(*server.sys, echo.error()));
  CHECK(echo->node() != server.sys->node());
  caf::scoped_actor self{*server.sys};
  int32_t answer = 0;
  self->request(*echo, 5s, int32_t{4})
    .receive([&](int32_t x) { answer = x; },
             [&](caf::error& err) { FAIL_CHECK(text(*server.sys, err)); });
  CHECK(answer == 8);
  stop_child(server.node, child);
}

TEST_CASE("a name that is not published gives name_not_found, also after a waiting lookup") {
  scoped_bus bus{"names-missing"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto missing = server.node.lookup("nobody");
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == bus::errc::name_not_found);
  CHECK(text(*server.sys, missing.error()).find("nobody") != std::string::npos);
  auto start = std::chrono::steady_clock::now();
  auto waited = server.node.lookup("nobody", caf::timespan{200ms});
  auto took = elapsed_ms(start);
  REQUIRE_FALSE(waited);
  CHECK_MESSAGE(waited.error() == bus::errc::name_not_found,
                text(*server.sys, waited.error()));
  CHECK(took >= 150);
  CHECK(took < 3000);
}

TEST_CASE("a waiting lookup returns once another process publishes the name") {
  scoped_bus bus{"names-wait"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("bus-namer", {bus.name});
  await_ready(child);
  auto control = must_lookup(server.node, "control");
  CHECK(server.node.lookup("late").error() == bus::errc::name_not_found);
  caf::scoped_actor self{*server.sys};
  // The child publishes "late" 100 ms after this request.
  self->request(control, 5s, caf::publish_atom::value, std::string{"late"})
    .receive([](int32_t) {}, [&](caf::error& err) { FAIL_CHECK(text(*server.sys, err)); });
  auto late = server.node.lookup("late", caf::timespan{5s});
  REQUIRE_MESSAGE(late, text(*server.sys, late.error()));
  int32_t answer = 0;
  self->request(*late, 5s, int32_t{21})
    .receive([&](int32_t x) { answer = x; },
             [&](caf::error& err) { FAIL_CHECK(text(*server.sys, err)); });
  CHECK(answer == 42);
  stop_child(server.node, child);
}

TEST_CASE("an unpublished name and the name of an actor that quit are no longer found") {
  scoped_bus bus{"names-unpublish"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("bus-namer", {bus.name});
  await_ready(child);
  auto control = must_lookup(server.node, "control");
  caf::scoped_actor self{*server.sys};
  SUBCASE("unpublished by its process") {
    REQUIRE(server.node.lookup("echo"));
    caf::error failure;
    self->request(control, 5s, caf::unpublish_atom::value, std::string{"echo"})
      .receive([](int32_t) {}, [&](caf::error& err) { failure = err; });
    REQUIRE_MESSAGE(!failure, text(*server.sys, failure));
    auto gone = server.node.lookup("echo");
    REQUIRE_FALSE(gone);
    CHECK(gone.error() == bus::errc::name_not_found);
  }
  SUBCASE("its actor quit") {
    auto mortal = must_lookup(server.node, "mortal");
    self->monitor(mortal);
    self->request(control, 5s, quit_atom::value, mortal)
      .receive([](int32_t) {}, [&](caf::error& err) { FAIL_CHECK(text(*server.sys, err)); });
    REQUIRE(receive_within(self, 5s, [](caf::down_msg&) {}));
    CHECK(wait_until([&] { return !server.node.lookup("mortal"); }, 2s));
    CHECK(server.node.lookup("mortal").error() == bus::errc::name_not_found);
  }
  SUBCASE("unpublished by the server for its own actor") {
    auto local = server.sys->spawn(doubler);
    exit_on_scope_end guard{local};
    REQUIRE_FALSE(server.node.publish(local, "local"));
    REQUIRE(server.node.lookup("local"));
    REQUIRE_FALSE(server.node.unpublish("local"));
    CHECK(server.node.lookup("local").error() == bus::errc::name_not_found);
  }
  stop_child(server.node, child);
}

TEST_CASE("a name published by one process cannot be taken by another") {
  scoped_bus bus{"names-taken"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("bus-namer", {bus.name});
  await_ready(child);
  auto local = server.sys->spawn(doubler);
  exit_on_scope_end guard{local};
  auto err = server.node.publish(local, "echo");
  REQUIRE(err);
  CHECK_MESSAGE(err == bus::errc::name_in_use, text(*server.sys, err));
  // The name still leads to the child's actor.
  auto echo = must_lookup(server.node, "echo");
  CHECK(echo.node() != server.sys->node());
  stop_child(server.node, child);
}

TEST_CASE("a typed lookup works for the published interface and fails for another") {
  scoped_bus bus{"names-typed"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("bus-namer", {bus.name});
  await_ready(child);
  auto calc = server.node.lookup<calc_actor>("calc", caf::timespan{5s});
  REQUIRE_MESSAGE(calc, text(*server.sys, calc.error()));
  caf::scoped_actor self{*server.sys};
  int32_t sum = 0;
  self->request(*calc, 5s, int32_t{3}, int32_t{4})
    .receive([&](int32_t x) { sum = x; },
             [&](caf::error& err) { FAIL_CHECK(text(*server.sys, err)); });
  CHECK(sum == 7);
  // An untyped lookup of a typed actor is fine.
  CHECK(server.node.lookup("calc"));
  auto wrong = server.node.lookup<text_actor>("calc");
  REQUIRE_FALSE(wrong);
  CHECK_MESSAGE(wrong.error() == bus::errc::interface_mismatch,
                text(*server.sys, wrong.error()));
  auto untyped = server.node.lookup<calc_actor>("echo");
  REQUIRE_FALSE(untyped);
  CHECK_MESSAGE(untyped.error() == bus::errc::interface_mismatch,
                text(*server.sys, untyped.error()));
  stop_child(server.node, child);
}
