// The seed's role rules with real processes: one server per bus, no server
// while clients live, stale segments of dead processes replaced, foreign
// layouts and bad names refused with errors that say what to do.
#include <doctest/doctest.h>

#include <csignal>

#include "bus_fixture.hpp"
#include "child_process.hpp"
#include "shmbus/transport/bus_admin.hpp"
#include "transport_helpers.hpp"

using namespace shmbus;
using namespace shmbus::test;
using transport::errc;
using transport::node_role;

namespace {

transport::result<std::unique_ptr<transport::node>>
try_start(const std::string& bus, node_role role, const std::string& name) {
  transport::node_options opts;
  opts.bus = bus;
  opts.role = role;
  opts.name = name;
  opts.timing = fast_timing();
  return transport::node::start(opts);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("a second server for the same bus is refused and told who runs") {
  scoped_bus bus{"second-server"};
  auto first = child_process::spawn("node", {bus.name, "server", "first"});
  REQUIRE(first.read_line(10s) == std::optional<std::string>{"ready 0 1"});
  auto second = try_start(bus.name, node_role::server, "second");
  REQUIRE_FALSE(second.has_value());
  CHECK(second.err().code == errc::server_running);
  CHECK(contains(second.err().message, "'first'"));
  CHECK(contains(second.err().message, std::to_string(first.pid())));
}

TEST_CASE("a server is refused while a client of the previous server lives") {
  scoped_bus bus{"clients-alive"};
  auto server = child_process::spawn("node", {bus.name, "server", "srv"});
  REQUIRE(server.read_line(10s).value_or("").rfind("ready", 0) == 0);
  auto client = child_process::spawn("node", {bus.name, "client", "wallet"});
  REQUIRE(client.read_line(10s).value_or("").rfind("ready", 0) == 0);
  server.signal(SIGKILL);
  REQUIRE(server.wait(10s).has_value());
  // The client would normally exit when its server dies (bus layer); here
  // it lingers on purpose.
  auto refused = try_start(bus.name, node_role::server, "srv2");
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.err().code == errc::clients_alive);
  CHECK(contains(refused.err().message, "'wallet'"));
  CHECK(contains(refused.err().message, "stop them first"));
  client.signal(SIGKILL);
  REQUIRE(client.wait(10s).has_value());
  auto accepted = try_start(bus.name, node_role::server, "srv2");
  REQUIRE_MESSAGE(accepted.has_value(), accepted.err().message);
}

TEST_CASE("a stale segment left by kill -9 of every process is replaced by the next server") {
  scoped_bus bus{"stale"};
  auto server = child_process::spawn("node", {bus.name, "server", "srv"});
  REQUIRE(server.read_line(10s).value_or("").rfind("ready", 0) == 0);
  auto client = child_process::spawn("node", {bus.name, "client", "c1"});
  REQUIRE(client.read_line(10s).value_or("").rfind("ready", 0) == 0);
  server.signal(SIGKILL);
  client.signal(SIGKILL);
  REQUIRE(server.wait(10s).has_value());
  REQUIRE(client.wait(10s).has_value());
  CHECK(transport::segment::exists(bus.name));
  // A client cannot join a bus whose server is dead.
  auto orphan = try_start(bus.name, node_role::client, "late");
  REQUIRE_FALSE(orphan.has_value());
  CHECK(orphan.err().code == errc::bus_not_found);
  CHECK(contains(orphan.err().message, "start the server first"));
  auto fresh = try_start(bus.name, node_role::server, "srv-again");
  REQUIRE_MESSAGE(fresh.has_value(), fresh.err().message);
  REQUIRE((*fresh)->start_notes().size() == 1);
  CHECK(contains((*fresh)->start_notes()[0], "stale segment"));
  auto joined = try_start(bus.name, node_role::client, "c2");
  REQUIRE_MESSAGE(joined.has_value(), joined.err().message);
  CHECK((*joined)->slot() == 1);
  // A reused slot starts a new incarnation... of a new segment here: 1.
  CHECK((*joined)->incarnation() == 1);
}

TEST_CASE("a segment of another layout version is refused with both versions and the remedy") {
  scoped_bus bus{"layout"};
  auto server = start_node(bus.name, node_role::server, "srv");
  auto view = transport::segment::attach(bus.name);
  REQUIRE(view.has_value());
  view->header().layout_version.store(99);
  auto client = try_start(bus.name, node_role::client, "c");
  REQUIRE_FALSE(client.has_value());
  CHECK(client.err().code == errc::layout_mismatch);
  CHECK(contains(client.err().message, "layout version 99"));
  CHECK(contains(client.err().message,
                 "this build reads version " + std::to_string(transport::layout_version)));
  CHECK(contains(client.err().message, "shmbusctl clean " + bus.name));
}

TEST_CASE("an invalid bus name is refused before anything is created") {
  auto bad = try_start("no/slashes", node_role::server, "srv");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.err().code == errc::invalid_bus_name);
  CHECK(contains(bad.err().message, "[A-Za-z0-9._-]"));
  CHECK_FALSE(transport::segment::exists("no-slashes"));
}

TEST_CASE("a client of a bus that does not exist is told to start the server") {
  scoped_bus bus{"nobody"};
  auto client = try_start(bus.name, node_role::client, "c");
  REQUIRE_FALSE(client.has_value());
  CHECK(client.err().code == errc::bus_not_found);
  CHECK(contains(client.err().message, "start the server first"));
}

TEST_CASE("removing a bus is refused while its processes live and works after") {
  scoped_bus bus{"remove"};
  auto server = child_process::spawn("node", {bus.name, "server", "srv"});
  REQUIRE(server.read_line(10s).value_or("").rfind("ready", 0) == 0);
  auto err = transport::remove_bus(bus.name);
  CHECK(err.code == errc::bus_in_use);
  CHECK(contains(err.message, "stop it first"));
  auto report = transport::inspect_bus(bus.name);
  REQUIRE(report.has_value());
  CHECK(report->server_running);
  REQUIRE(report->nodes.size() == 1);
  CHECK(report->nodes[0].name == "srv");
  server.signal(SIGKILL);
  REQUIRE(server.wait(10s).has_value());
  CHECK_FALSE(transport::remove_bus(bus.name));
  CHECK_FALSE(transport::segment::exists(bus.name));
}

TEST_CASE("a server that leaves with no clients removes its bus") {
  scoped_bus bus{"tidy"};
  {
    auto server = start_node(bus.name, node_role::server, "srv");
    CHECK(transport::segment::exists(bus.name));
  }
  CHECK_FALSE(transport::segment::exists(bus.name));
}
