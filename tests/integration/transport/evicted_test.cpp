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

namespace {

/// What a peer's liveness thread does to a node it found hung.
void declare_lost(const transport::segment& seg, uint32_t slot, uint32_t incarnation) {
  auto& s = seg.slot(slot);
  auto alive = transport::make_state_word(transport::node_state::alive, incarnation);
  REQUIRE(s.state.compare_exchange_strong(
    alive, transport::make_state_word(transport::node_state::lost, incarnation)));
  s.loss_cause.store(static_cast<uint32_t>(transport::loss_cause::heartbeat_timeout));
  s.loss_detail.store(2345);
}

} // namespace

TEST_CASE("an evicted node's send fails with evicted and the cause; after rejoin it is heard again") {
  scoped_bus bus{"evicted"};
  auto server = start_node(bus.name, node_role::server, "srv", test_timing());
  auto client = start_node(bus.name, node_role::client, "wallet");
  recorder at_server;
  recorder at_client;
  pump server_pump{*server, at_server};
  std::optional<pump> client_pump;
  client_pump.emplace(*client, at_client);
  auto old_incarnation = client->incarnation();
  REQUIRE_FALSE(client->send(0, server->incarnation(), "before", 6));
  REQUIRE(wait_until([&] { return at_server.messages().size() == 1; }, 5s));

  declare_lost(server->shared_segment(), client->slot(), old_incarnation);
  auto err = client->send(0, server->incarnation(), "dropped?", 8);
  CHECK(err.code == errc::evicted);
  CHECK_MESSAGE(contains(err.message, "evicted"), err.message);
  CHECK(contains(err.message, "no heartbeat for 2345 ms"));
  CHECK(contains(err.message, "rejoin"));
  CHECK(at_server.messages().size() == 1);

  // Its own liveness thread tells it too.
  REQUIRE(wait_until([&] { return at_client.loss_of(client->slot()).has_value(); }, 5s));
  CHECK(at_client.loss_of(client->slot())->cause == transport::loss_cause::evicted);
  client_pump.reset(); // rejoin() runs while nobody polls
  auto rejoined = client->rejoin();
  REQUIRE_MESSAGE(!rejoined, rejoined.message);
  client_pump.emplace(*client, at_client);
  CHECK(client->incarnation() == old_incarnation + 1);
  CHECK_FALSE(client->send(0, server->incarnation(), "after", 5));
  REQUIRE(wait_until([&] { return at_server.messages().size() == 2; }, 5s));
  CHECK(at_server.messages().back() == "after");
  // Peers see the old incarnation go and the new one come.
  REQUIRE(wait_until([&] { return at_server.loss_of(client->slot()).has_value(); }, 5s));
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
