// A node whose peers declared it lost (it hung past the heartbeat timeout
// and came back) while it still runs must not
// keep "succeeding": it leaves the bus with stop_cause::evicted, its actors
// see the down messages of every remote actor they watched, its requests
// fail, and later calls say why (shmbus.on-evicted=leave, the default).
#include <doctest/doctest.h>

#include <csignal>

#include "shmbus/transport/node.hpp"

#include "test_types.hpp"

using namespace shmbus;
using namespace shmbus::test;

// args: bus, on-evicted. Monitors "srv.echo" with an actor that prints
// "down <reason>", keeps a request at "srv.blackhole" that prints
// "request <error>", then prints what await_stop_request returned and what
// a lookup says afterwards.
SHMBUS_CHILD_ROLE("bus-evictee") {
  auto policy = args.at(1);
  child_bus<> p{args.at(0), "client", "evictee",
                [&](test_config& cfg) { cfg.shmbus.on_evicted = policy; }};
  auto echo = p.node.lookup("srv.echo", caf::timespan{std::chrono::seconds{5}});
  auto hole = p.node.lookup("srv.blackhole", caf::timespan{std::chrono::seconds{5}});
  if (!echo || !hole) {
    say("error: lookup failed");
    return 3;
  }
  auto watcher = p.sys->spawn([echo = *echo, hole = *hole](caf::event_based_actor* a) -> caf::behavior {
    a->monitor(echo);
    a->set_down_handler(
      [=](caf::down_msg& dm) { say("down " + a->system().render(dm.reason)); });
    a->request(hole, caf::infinite, hang_atom::value)
      .then([] { say("request answered"); },
            [=](caf::error& err) { say("request " + a->system().render(err)); });
    return {[](int32_t) {}};
  });
  say("ready");
  auto why = p.node.await_stop_request(caf::timespan{std::chrono::seconds{10}});
  say("cause " + std::to_string(static_cast<int>(why.cause)) + ": " + why.text);
  auto later = p.node.lookup("srv.echo");
  say("lookup " + (later ? std::string{"found"} : p.sys->render(later.error())));
  caf::anon_send_exit(watcher, caf::exit_reason::user_shutdown);
  return 0;
}

namespace {

/// Hang tests: fast heartbeats, and a server that declares a hung peer lost
/// without killing it (as for a module under a debugger), so that the peer
/// runs on and finds itself evicted.
void judge_without_killing(test_config& cfg) {
  fast_heartbeats(cfg);
  cfg.shmbus.kill_hung_peers = false;
}

/// Stops `child` (SIGSTOP) until `server` no longer counts it as a peer,
/// then lets it run on.
void hang_until_declared_lost(bus_process<test_config>& server, child_process& child) {
  auto listed = [&] {
    for (auto& peer : server.node.transport_node().peers())
      if (peer.pid == child.pid())
        return true;
    return false;
  };
  REQUIRE(listed());
  child.signal(SIGSTOP);
  bool lost = wait_until([&] { return !listed(); }, 10s);
  child.signal(SIGCONT);
  REQUIRE_MESSAGE(lost, "the server did not declare the stopped child lost");
}

/// A server with an echo and a blackhole, and an evictee child (policy
/// `on_evicted`) that monitors the one and waits on a request to the other;
/// run() hangs the child until the server declares it lost and collects
/// what it prints until it exits.
struct eviction {
  scoped_bus bus;
  bus_process<test_config> server;
  caf::actor echo;
  caf::actor hole;
  child_process child;
  std::vector<std::string> lines;

  eviction(const std::string& name, const std::string& on_evicted)
    : bus{name},
      server{bus.name, "server", "srv", judge_without_killing},
      echo{server.sys->spawn(doubler)},
      hole{server.sys->spawn(blackhole_impl)},
      child{publish_then_spawn(on_evicted)} {
    await_ready(child);
  }

  child_process publish_then_spawn(const std::string& on_evicted) {
    REQUIRE_FALSE(server.node.publish(echo, "srv.echo"));
    REQUIRE_FALSE(server.node.publish(hole, "srv.blackhole"));
    return child_process::spawn("bus-evictee", {bus.name, on_evicted});
  }

  ~eviction() {
    for (auto& x : {echo, hole})
      caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
  }

  void run() {
    caf::scoped_actor self{*server.sys};
    REQUIRE(blackhole_holds(self, hole, 1, 5s));
    hang_until_declared_lost(server, child);
    while (auto line = child.read_line(15s))
      lines.push_back(*line);
  }

  /// Whether a line starts with `prefix` and contains `part`.
  bool has(const std::string& prefix, const std::string& part) const {
    for (auto& line : lines)
      if (line.rfind(prefix, 0) == 0 && line.find(part) != std::string::npos)
        return true;
    return false;
  }

  std::string all() const {
    std::string x;
    for (auto& line : lines)
      x += line + "\n";
    return x;
  }

  void check_exited_cleanly() {
    auto status = child.wait(5s);
    REQUIRE(status);
    CHECK_MESSAGE((status->exited && status->code == 0), status->to_string());
  }
};

} // namespace

TEST_CASE("a node its peers declared lost leaves the bus with stop reason evicted") {
  eviction e{"evicted", "leave"};
  e.run();
  CHECK_MESSAGE(e.has("down ", "remote_link_unreachable"), e.all());
  CHECK_MESSAGE(e.has("request ", "request_receiver_down"), e.all());
  CHECK_MESSAGE(e.has("cause " + std::to_string(static_cast<int>(bus::stop_cause::evicted)),
                      "evicted: the peers declared node 'evictee' lost"),
                e.all());
  CHECK_MESSAGE(e.has("lookup ", "not_attached"), e.all());
  CHECK_MESSAGE(e.has("lookup ", "left the bus"), e.all());
  e.check_exited_cleanly();
}

TEST_CASE("a node its peers declared lost rejoins as a new incarnation with on-evicted=rejoin") {
  eviction e{"rejoined", "rejoin"};
  e.run();
  // Its actors saw the down messages and failed requests of the old
  // incarnation; the node itself is still on the bus: await_stop_request
  // times out and lookups resolve.
  CHECK_MESSAGE(e.has("down ", "remote_link_unreachable"), e.all());
  CHECK_MESSAGE(e.has("request ", "request_receiver_down"), e.all());
  CHECK_MESSAGE(e.has("cause " + std::to_string(static_cast<int>(bus::stop_cause::timeout)), ""),
                e.all());
  CHECK_MESSAGE(e.has("lookup ", "found"), e.all());
  e.check_exited_cleanly();
}
