// A node that its peers declared lost learns it at its next send, instead
// of writing records every receiver drops, and can take a new incarnation
// of the slot it still holds.
#include <doctest/doctest.h>

#include <optional>

#include "bus_fixture.hpp"
#include "transport_helpers.hpp"

using namespace shmbus;
using namespace shmbus::test;
using transport::errc;
using transport::node_role;

TEST_CASE("an evicted node's send fails with evicted and the cause; after rejoin it is heard again") {
  scoped_bus bus{"evicted"};
  // Both nodes live in this process: the server must declare the silent
  // client lost without killing it (as for a module under a debugger).
  transport::node_options so;
  so.bus = bus.name;
  so.role = node_role::server;
  so.name = "srv";
  so.timing = fast_timing();
  so.kill_hung_peers = false;
  auto started = transport::node::start(so);
  REQUIRE_MESSAGE(started, started.err().message);
  auto server = std::move(*started);
  auto client = start_node(bus.name, node_role::client, "wallet", fast_timing());
  recorder at_server;
  recorder at_client;
  pump server_pump{*server, at_server};
  std::optional<pump> client_pump;
  client_pump.emplace(*client, at_client);
  auto old_incarnation = client->incarnation();
  REQUIRE_FALSE(client->send(0, server->incarnation(), "before", 6));
  REQUIRE(wait_until([&] { return at_server.messages().size() == 1; }, 5s));

  // The client's consumer stops for longer than the heartbeat timeout: its
  // peers (or it itself) declare it lost, and its sends say so.
  client_pump.reset();
  REQUIRE(wait_until([&] { return at_server.loss_of(client->slot()).has_value(); }, 10s));
  transport::error err;
  REQUIRE(wait_until(
    [&] {
      err = client->send(0, server->incarnation(), "dropped?", 8);
      return err.code == errc::evicted;
    },
    5s));
  CHECK_MESSAGE(contains(err.message, "evicted"), err.message);
  CHECK(contains(err.message, "rejoin"));
  CHECK(at_server.messages().size() == 1);

  // Its own liveness thread tells it too.
  client_pump.emplace(*client, at_client);
  REQUIRE(wait_until([&] { return at_client.loss_of(client->slot()).has_value(); }, 5s));
  auto cause = at_client.loss_of(client->slot())->cause;
  CHECK((cause == transport::loss_cause::evicted || cause == transport::loss_cause::stalled));
  client_pump.reset(); // rejoin() runs while nobody polls
  auto rejoined = client->rejoin();
  REQUIRE_MESSAGE(!rejoined, rejoined.message);
  client_pump.emplace(*client, at_client);
  CHECK(client->incarnation() == old_incarnation + 1);
  CHECK_FALSE(client->send(0, server->incarnation(), "after", 5));
  REQUIRE(wait_until([&] { return at_server.messages().size() == 2; }, 5s));
  CHECK(at_server.messages().back() == "after");
  // Peers saw the old incarnation go and see the new one come.
  CHECK(at_server.loss_of(client->slot())->peer.incarnation == old_incarnation);
  auto joins = at_server.joins();
  REQUIRE(joins.size() >= 2);
  CHECK(joins.back().slot == client->slot());
  CHECK(joins.back().incarnation == old_incarnation + 1);
  // A node that is not evicted has nothing to rejoin.
  auto refused = client->rejoin();
  CHECK(refused.code == errc::not_attached);
  // The server answers the new incarnation; the old one is gone for good.
  CHECK(server->send(client->slot(), old_incarnation, "old", 3).code == errc::peer_lost);
  CHECK_FALSE(server->send(client->slot(), client->incarnation(), "new", 3));
  REQUIRE(wait_until([&] { return !at_client.messages().empty(); }, 5s));
  CHECK(at_client.messages().back() == "new");
}
