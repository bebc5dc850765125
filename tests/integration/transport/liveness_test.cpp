// Loss detection with real processes and signals: kill -9, exit codes,
// clean leave, hangs (SIGSTOP), and a lost server seen by its clients.
#include <doctest/doctest.h>

#include <csignal>

#include "bus_fixture.hpp"
#include "child_process.hpp"
#include "transport_helpers.hpp"

using namespace shmbus;
using namespace shmbus::test;
using transport::loss_cause;
using transport::node_role;

TEST_CASE("a kill -9ed client is reported to the server as killed by signal 9") {
  scoped_bus bus{"kill9"};
  auto server = start_node(bus.name, node_role::server, "srv");
  recorder seen;
  pump consumer{*server, seen};
  auto client = child_process::spawn("node", {bus.name, "client", "victim"});
  auto slot = ready_slot(client);
  REQUIRE(wait_until([&] { return !seen.joins().empty(); }, 5s));
  client.signal(SIGKILL);
  REQUIRE(wait_until([&] { return seen.loss_of(slot).has_value(); }, 5s));
  auto loss = *seen.loss_of(slot);
  CHECK(loss.cause == loss_cause::killed);
  CHECK(loss.detail == SIGKILL);
  CHECK(loss.peer.name == "victim");
  CHECK(loss.peer.pid == client.pid());
  CHECK(loss.describe().find("killed by signal 9") != std::string::npos);
}

TEST_CASE("a client that exits without leaving is reported with its exit code") {
  scoped_bus bus{"exitcode"};
  auto server = start_node(bus.name, node_role::server, "srv");
  recorder seen;
  pump consumer{*server, seen};
  auto client = child_process::spawn("node", {bus.name, "client", "quitter", "exit:3"});
  auto slot = ready_slot(client);
  REQUIRE(wait_until([&] { return seen.loss_of(slot).has_value(); }, 5s));
  auto loss = *seen.loss_of(slot);
  // Reported from /proc while the child is a zombie (we have not reaped it).
  CHECK(loss.cause == loss_cause::exited);
  CHECK(loss.detail == 3);
}

TEST_CASE("a client that leaves cleanly is reported as left, after its last message") {
  scoped_bus bus{"leave"};
  auto server = start_node(bus.name, node_role::server, "srv");
  recorder seen;
  std::atomic<bool> loss_before_message{false};
  seen.message_hook = [&](const transport::message_view&) {
    loss_before_message = !seen.losses().empty();
  };
  pump consumer{*server, seen};
  auto client = child_process::spawn("node", {bus.name, "client", "polite", "send-leave:0:bye"});
  auto slot = ready_slot(client);
  REQUIRE(client.read_line(5s) == std::optional<std::string>{"sent ok"});
  auto status = client.wait(10s);
  REQUIRE(status.has_value());
  CHECK(status->exited);
  REQUIRE(wait_until([&] { return seen.loss_of(slot).has_value(); }, 5s));
  CHECK(seen.messages() == std::vector<std::string>{"bye"});
  CHECK_FALSE(loss_before_message.load());
  CHECK(seen.loss_of(slot)->cause == loss_cause::left);
  CHECK(seen.losses().size() == 1);
}

TEST_CASE("a hung client (SIGSTOP) is reported after the heartbeat timeout and fenced off") {
  scoped_bus bus{"hang"};
  auto server = start_node(bus.name, node_role::server, "srv", fast_timing());
  recorder seen;
  pump consumer{*server, seen};
  auto client = child_process::spawn("node", {bus.name, "client", "sleeper"});
  auto slot = ready_slot(client);
  REQUIRE(wait_until([&] { return !seen.joins().empty(); }, 5s));
  auto stopped_at = std::chrono::steady_clock::now();
  client.signal(SIGSTOP);
  REQUIRE(wait_until([&] { return seen.loss_of(slot).has_value(); }, 10s));
  auto after = std::chrono::steady_clock::now() - stopped_at;
  auto loss = *seen.loss_of(slot);
  CHECK(loss.cause == loss_cause::heartbeat_timeout);
  CHECK(loss.detail >= 300);
  // Not before the timeout: a slow heartbeat is not a hang. (The last stamp
  // may precede the stop by one park, at most an interval, and by a tick of
  // the coarse clock it is taken from.)
  CHECK(after >= fast_timing().heartbeat_timeout - fast_timing().heartbeat_interval - 10ms);
  // The server kills the hung client so that it can be restarted.
  auto status = client.wait(10s);
  REQUIRE(status.has_value());
  CHECK(status->signaled);
  CHECK(status->signal == SIGKILL);
}

TEST_CASE("a client learns that its server was killed") {
  scoped_bus bus{"server-lost"};
  auto server = child_process::spawn("node", {bus.name, "server", "srv"});
  REQUIRE(ready_slot(server) == 0);
  auto client = start_node(bus.name, node_role::client, "c");
  recorder seen;
  pump consumer{*client, seen};
  REQUIRE(wait_until([&] { return !seen.joins().empty(); }, 5s));
  server.signal(SIGKILL);
  REQUIRE(wait_until([&] { return seen.loss_of(0).has_value(); }, 5s));
  CHECK(seen.loss_of(0)->cause == loss_cause::killed);
  CHECK(seen.loss_of(0)->peer.role == node_role::server);
}

TEST_CASE("a message to a lost peer fails with peer_lost instead of vanishing") {
  scoped_bus bus{"send-lost"};
  auto server = start_node(bus.name, node_role::server, "srv");
  recorder seen;
  pump consumer{*server, seen};
  auto client = child_process::spawn("node", {bus.name, "client", "gone"});
  auto slot = ready_slot(client);
  auto peer = server->peer(slot);
  REQUIRE(peer.has_value());
  CHECK_FALSE(server->send(slot, peer->incarnation, "hi", 2));
  client.signal(SIGKILL);
  REQUIRE(wait_until([&] { return seen.loss_of(slot).has_value(); }, 5s));
  auto err = server->send(slot, peer->incarnation, "hi", 2);
  CHECK(err.code == transport::errc::peer_lost);
  CHECK(err.message.find("'gone'") != std::string::npos);
}
