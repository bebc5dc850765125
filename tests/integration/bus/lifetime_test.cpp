// Who owns the bus: the actor system (bus_module). A program may end without
// stopping its node, and a node handle outlives its bus safely.
#include <doctest/doctest.h>

#include <future>

#include <caf/io/middleman.hpp>

#include "shmbus/bus/bus_module.hpp"
#include "shmbus/transport/node_slot.hpp"

#include "test_types.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

using go_atom = caf::atom_constant<caf::atom("go")>;

/// Answers `(caf::get_atom, name)` with 0 if a lookup from this actor
/// through `node` found something, with its error otherwise.
caf::behavior async_looker(caf::event_based_actor* self, bus::node node) {
  return {
    [=](caf::get_atom, const std::string& name) -> caf::result<int32_t> {
      auto rp = self->make_response_promise();
      node.lookup(self, name, 1s, [rp](caf::expected<caf::actor> x) mutable {
        if (x)
          rp.deliver(int32_t{0});
        else
          rp.deliver(x.error());
      });
      return rp;
    },
  };
}

/// What `looker` reports for `name`.
caf::error async_lookup_error(caf::actor_system& sys, const caf::actor& looker,
                              const std::string& name) {
  caf::scoped_actor self{sys};
  caf::error result = caf::sec::request_timeout;
  self->request(looker, 10s, caf::get_atom::value, name)
    .receive([&](int32_t) { result = caf::none; },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

/// Every call that needs a running bus fails with not_attached, without
/// touching what the bus owned.
void check_not_attached(const bus::node& node, const caf::actor& some_actor) {
  CHECK_FALSE(node.attached());
  CHECK(node.publish(some_actor, "late") == bus::errc::not_attached);
  CHECK(node.unpublish("late") == bus::errc::not_attached);
  CHECK(node.lookup("echo").error() == bus::errc::not_attached);
  CHECK(node.lookup("echo", caf::timespan{10s}).error() == bus::errc::not_attached);
  CHECK(node.request_stop(::getpid()) == bus::errc::not_attached);
  CHECK(node.peers().empty());
  CHECK_FALSE(node.name_service());
  CHECK(node.await_stop_request(caf::timespan{0}).cause == bus::stop_cause::stopped);
}

} // namespace

// args: bus. Joins, publishes "forgetful.echo", and once that actor got
// go_atom, returns from its main function without stopping its node, with
// the actor still alive and in CAF's registry.
SHMBUS_CHILD_ROLE("bus-forgetful") {
  std::promise<void> go;
  test_config cfg;
  configure(cfg, args.at(0), "client", "forgetful");
  caf::actor_system sys{cfg};
  auto node = bus::node::start(sys);
  if (!node) {
    say("error: " + sys.render(node.error()));
    return 3;
  }
  auto echo = sys.spawn([&go]() -> caf::behavior {
    return {
      [](int32_t x) { return x * 2; },
      [&go](go_atom) { go.set_value(); },
    };
  });
  if (auto err = node->publish(echo, "forgetful.echo")) {
    say("error: " + sys.render(err));
    return 3;
  }
  say("ready");
  if (go.get_future().wait_for(60s) != std::future_status::ready)
    return 4;
  say("returning");
  return 0;
}

TEST_CASE("a program that never stops its node ends without hanging and its peers see it leave") {
  scoped_bus bus{"life-forget"};
  bus_process<test_config> server{bus.name, "server", "srv", slow_heartbeats};
  auto child = child_process::spawn("bus-forgetful", {bus.name});
  await_ready(child);
  auto echo = must_lookup(server.node, "forgetful.echo");
  caf::scoped_actor self{*server.sys};
  // The child now holds a proxy of `self` and CAF's registry an entry of
  // its echo actor: both used to keep ~actor_system waiting.
  int32_t answer = 0;
  self->request(echo, 5s, int32_t{21})
    .receive([&](int32_t x) { answer = x; },
             [&](caf::error& err) { FAIL_CHECK(text(*server.sys, err)); });
  CHECK(answer == 42);
  self->monitor(echo);
  self->send(echo, go_atom::value);
  CHECK(child.expect_line("returning", 10s));
  auto status = child.wait(10s);
  REQUIRE_MESSAGE(status, "the child did not end within 10 s of returning from main");
  CHECK_MESSAGE((status->exited && status->code == 0), status->to_string());
  caf::error reason;
  self->receive([&](caf::down_msg& dm) { reason = dm.reason; },
                caf::after(10s) >> [] { FAIL_CHECK("no down_msg within 10 s"); });
  CHECK(reason == caf::exit_reason::remote_link_unreachable);
  auto loss = server.node.loss_of(child.pid());
  REQUIRE(loss);
  CHECK_MESSAGE(loss->cause == transport::loss_cause::left, loss->text);
}

TEST_CASE("a node handle used after its node stopped gets not_attached") {
  scoped_bus bus{"life-stop"};
  bus_process<test_config> server{bus.name, "server", "srv", slow_heartbeats};
  auto local = server.sys->spawn(doubler);
  exit_on_scope_end guard{local};
  auto looker = server.sys->spawn(async_looker, server.node);
  exit_on_scope_end guard_looker{looker};
  REQUIRE_FALSE(server.node.publish(local, "echo"));
  // A lookup from an actor works while the node runs ...
  CHECK_FALSE(async_lookup_error(*server.sys, looker, "echo"));
  bus::node copy = server.node;
  CHECK(copy == server.node);
  server.node.stop();
  server.node.stop(); // idempotent
  // ... and reports not_attached on every handle once it stopped.
  check_not_attached(copy, local);
  CHECK(async_lookup_error(*server.sys, looker, "echo") == bus::errc::not_attached);
  // A default handle is attached to nothing.
  check_not_attached(bus::node{}, local);
}

TEST_CASE("a node handle that outlives its actor system gets not_attached") {
  scoped_bus bus{"life-system"};
  test_config cfg;
  configure(cfg, bus.name, "server", "srv");
  slow_heartbeats(cfg);
  auto sys = std::make_unique<caf::actor_system>(cfg);
  auto started = bus::node::start(*sys);
  REQUIRE_MESSAGE(started, text(*sys, started.error()));
  auto node = *started;
  auto local = sys->spawn(doubler);
  REQUIRE_FALSE(node.publish(local, "echo"));
  // Not stopped by hand: the system's shutdown stops the bus, then awaits
  // the (now unreferenced) actors.
  local = nullptr;
  sys.reset();
  CHECK_FALSE(node.attached());
  CHECK(node.lookup("echo").error() == bus::errc::not_attached);
  CHECK(node.publish(caf::actor{}, "echo") == bus::errc::not_attached);
  CHECK(node.peers().empty());
  CHECK_FALSE(node.name_service());
  // The bus is gone with its only process.
  CHECK_FALSE(transport::segment::attach(bus.name));
}

TEST_CASE("an actor system without the bus module is told how to load it") {
  scoped_bus bus{"life-nomodule"};
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  bus::bus_settings settings;
  settings.bus = bus.name;
  settings.role = "server";
  auto started = bus::node::start(sys, settings);
  REQUIRE_FALSE(started);
  auto what = text(sys, started.error());
  CHECK_MESSAGE(what.find("cfg.load<shmbus::bus::bus_module>()") != std::string::npos, what);
}

TEST_CASE("a second node on the same bus in one actor system is refused") {
  scoped_bus bus{"life-twice"};
  bus_process<test_config> server{bus.name, "server", "srv", slow_heartbeats};
  auto settings = server.node.settings();
  settings.role = "client";
  settings.node_name = "again";
  auto again = bus::node::start(*server.sys, settings);
  REQUIRE_FALSE(again);
  auto what = text(*server.sys, again.error());
  CHECK_MESSAGE(what.find("already") != std::string::npos, what);
  // Once the first one stopped, the system may join again.
  server.node.stop();
  settings.role = "server";
  auto fresh = bus::node::start(*server.sys, settings);
  REQUIRE_MESSAGE(fresh, text(*server.sys, fresh.error()));
  CHECK(fresh->attached());
}
