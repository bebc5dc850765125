// Published names across processes: lookup, waiting lookup, uniqueness,
// and names of a dead publisher disappearing with it.
#include <doctest/doctest.h>

#include <csignal>

#include <unistd.h>

#include "bus_fixture.hpp"
#include "child_process.hpp"
#include "transport_helpers.hpp"

using namespace shmbus;
using namespace shmbus::test;
using transport::errc;
using transport::node_role;

// args: bus name value
SHMBUS_CHILD_ROLE("publisher") {
  auto n = start_node(args.at(0), node_role::client, "publisher");
  auto err = n->publish(args.at(1), std::stoull(args.at(2)));
  std::printf("%s\n", err ? err.message.c_str() : "published");
  std::fflush(stdout);
  for (;;)
    ::pause();
}

TEST_CASE("a name published in another process is found, awaited, and gone when its publisher dies") {
  scoped_bus bus{"names"};
  auto server = start_node(bus.name, node_role::server, "srv");
  CHECK(server->lookup("wallet").err().code == errc::name_not_found);
  auto publisher = child_process::spawn("publisher", {bus.name, "wallet", "42"});
  // Waits on the names futex, not by polling.
  auto found = server->await_name("wallet", 10s);
  REQUIRE_MESSAGE(found.has_value(), found.err().message);
  CHECK(found->value == 42);
  CHECK(found->slot == 1);
  REQUIRE(publisher.read_line(5s) == std::optional<std::string>{"published"});
  // The same name from another node is refused and names the holder.
  auto clash = server->publish("wallet", 7);
  CHECK(clash.code == errc::name_in_use);
  CHECK(clash.message.find("'publisher'") != std::string::npos);
  publisher.signal(SIGKILL);
  REQUIRE(publisher.wait(10s).has_value());
  REQUIRE(wait_until([&] { return !server->lookup("wallet").has_value(); }, 5s));
  CHECK(server->lookup("wallet").err().code == errc::name_not_found);
  // Free again: the server can take it over.
  CHECK_FALSE(server->publish("wallet", 7));
  CHECK(server->lookup("wallet")->value == 7);
}

TEST_CASE("hostile: node-table words decide no name's owner: the kernel's incarnation locks do") {
  scoped_bus bus{"names-forged"};
  auto server = start_node(bus.name, node_role::server, "srv");
  auto publisher = child_process::spawn("publisher", {bus.name, "wallet", "42"});
  REQUIRE(publisher.read_line(10s) == std::optional<std::string>{"published"});
  auto found = server->lookup("wallet");
  REQUIRE(found.has_value());
  auto& state = server->shared_segment().slot(found->slot).state;
  auto alive = transport::make_state_word(transport::node_state::alive, found->incarnation);
  // Another process writes "dead" into the live publisher's slot: its name
  // stays found and nobody may take it over. (Its owner also puts the word
  // back within a heartbeat interval: we look before it does or after.)
  state.store(transport::make_state_word(transport::node_state::dead, found->incarnation));
  CHECK(server->lookup("wallet").has_value());
  CHECK(server->publish("wallet", 7).code == errc::name_in_use);
  publisher.signal(SIGKILL);
  REQUIRE(publisher.wait(10s).has_value());
  // The kernel dropped the dead publisher's locks: its name is gone at once,
  // whatever its slot says, also when another process writes "alive" back.
  state.store(alive);
  CHECK(server->lookup("wallet").err().code == errc::name_not_found);
  CHECK_FALSE(server->publish("wallet", 7));
  CHECK(server->lookup("wallet")->value == 7);
}

TEST_CASE("a waiting lookup gives up at its deadline with a message naming the name") {
  scoped_bus bus{"await"};
  auto server = start_node(bus.name, node_role::server, "srv");
  auto start = std::chrono::steady_clock::now();
  auto missing = server->await_name("nobody", 150ms);
  auto waited = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.err().code == errc::name_not_found);
  CHECK(missing.err().message.find("'nobody'") != std::string::npos);
  CHECK(waited >= 150ms);
}

TEST_CASE("republishing a name from the same node replaces its value and unpublish frees it") {
  scoped_bus bus{"republish"};
  auto server = start_node(bus.name, node_role::server, "srv");
  CHECK_FALSE(server->publish("svc", 1));
  CHECK_FALSE(server->publish("svc", 2));
  CHECK(server->lookup("svc")->value == 2);
  CHECK(server->published().size() == 1);
  CHECK_FALSE(server->unpublish("svc"));
  CHECK(server->unpublish("svc").code == errc::name_not_found);
  CHECK(server->publish(std::string(64, 'n'), 1).code == errc::invalid_argument);
}
