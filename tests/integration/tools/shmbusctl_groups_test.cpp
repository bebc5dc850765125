// `shmbusctl show` lists the groups of a live bus, read from the segment's
// group summary without joining: every group with its subscribed processes,
// subscriber counts and counters, text and JSON (and `metrics` per group and
// process); a process killed with
// SIGKILL drops out; a process scribbling the summary while honest ones
// publish gets its garbage reported or ignored, never a crash or a hang.
#include <doctest/doctest.h>

#include <csignal>
#include <map>
#include <random>
#include <thread>

#include "module_helpers.hpp"
#include "role_helpers.hpp"
#include "shmbus/transport/group_summary_table.hpp"
#include "shmbus/transport/segment.hpp"
#include "text.hpp"
#include "tool_helpers.hpp"
#include "wait.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

/// Joins `g` and takes whatever the group sends.
caf::behavior group_subscriber(caf::event_based_actor* self, caf::group g) {
  self->join(g);
  return {[](const std::string&, int32_t) {}};
}

caf::group must_get(caf::actor_system& sys, const std::string& name) {
  auto g = sys.groups().get(bus::group_module_name, name);
  REQUIRE_MESSAGE(g, sys.render(g.error()));
  return *g;
}

/// Local subscribers of `name` in `node`'s process; processes that
/// subscribe to it, as `node` sees them.
std::pair<size_t, size_t> seen(const bus::node& node, const std::string& name) {
  for (auto& x : node.groups())
    if (x.name == name)
      return {x.local_subscribers, x.processes.size()};
  return {0, 0};
}

/// The group `name` in a `show --json` document; null if it is not there.
nlohmann::json group_of(const nlohmann::json& doc, const std::string& name) {
  for (auto& g : doc["groups"])
    if (g.value("name", "") == name)
      return g;
  return nullptr;
}

/// Subscribers per node name of a group of `show --json`.
std::map<std::string, uint64_t> subscribers_by_node(const nlohmann::json& g) {
  std::map<std::string, uint64_t> result;
  for (auto& p : g["processes"])
    result[p["node"].get<std::string>()] = p["subscribers"].get<uint64_t>();
  return result;
}

/// Sends `n` messages to `g` from a scoped actor of `sys`.
void publish(caf::actor_system& sys, const caf::group& g, int32_t n) {
  caf::scoped_actor self{sys};
  for (int32_t i = 0; i < n; ++i)
    self->send(g, std::string{"event"}, i);
}

} // namespace

// args: bus, node name, then GROUP=N...: N subscriber actors of each GROUP.
// Prints "ready" once they joined, then waits for SIGTERM (or SIGKILL).
SHMBUS_CHILD_ROLE("group-client") {
  block_stop_signals();
  bus::config cfg;
  actors::configure(cfg);
  cfg.shmbus.bus = args.at(0);
  cfg.shmbus.role = "client";
  cfg.shmbus.node_name = args.at(1);
  caf::actor_system sys{cfg};
  auto node = bus::node::start(sys);
  if (!node) {
    std::printf("error: %s\n", sys.render(node.error()).c_str());
    return 3;
  }
  std::vector<caf::actor> subs;
  std::map<std::string, size_t> want;
  for (size_t i = 2; i < args.size(); ++i) {
    auto eq = args[i].find('=');
    auto name = args[i].substr(0, eq);
    auto n = std::stoul(args[i].substr(eq + 1));
    auto g = sys.groups().get(bus::group_module_name, name);
    if (!g) {
      std::printf("error: %s\n", sys.render(g.error()).c_str());
      return 3;
    }
    for (size_t k = 0; k < n; ++k)
      subs.push_back(sys.spawn(group_subscriber, *g));
    want[name] = n;
  }
  auto joined = wait_until(
    [&] {
      for (auto& [name, n] : want)
        if (seen(*node, name).first != n)
          return false;
      return true;
    },
    std::chrono::seconds{10});
  if (!joined) {
    std::printf("error: the subscribers did not join\n");
    return 3;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  wait_for_stop_signal(std::chrono::seconds{60});
  for (auto& x : subs)
    caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
  return 0;
}

TEST_CASE("show lists every group with its subscribed processes and counts and drops a "
          "killed process") {
  module_fixture fx{"ctl-groups"};
  auto blocks = must_get(*fx.sys, "blocks");
  auto mine = fx.sys->spawn(group_subscriber, blocks);
  auto c1 = child_process::spawn("group-client", {fx.bus.name, "c1", "blocks=2", "txs=1"});
  auto c2 = child_process::spawn("group-client", {fx.bus.name, "c2", "blocks=1"});
  REQUIRE(c1.expect_line("ready", 20s));
  REQUIRE(c2.expect_line("ready", 20s));
  // The server knows both subscribed processes before it publishes.
  REQUIRE(wait_until([&] { return seen(fx.node, "blocks") == std::pair<size_t, size_t>{1, 2}; },
                     10s));
  publish(*fx.sys, blocks, 5);
  nlohmann::json doc;
  auto settled = wait_until(
    [&] {
      doc = shmbusctl_json("show", fx.bus.name);
      auto g = group_of(doc, "blocks");
      return !g.is_null() && g["records_in"] == 10 && g["records_out"] == 10;
    },
    10s);
  CHECK_MESSAGE(settled, doc["groups"].dump(2));
  auto g = group_of(doc, "blocks");
  REQUIRE_MESSAGE(!g.is_null(), doc["groups"].dump(2));
  CHECK(g["subscribers"] == 4);
  CHECK(g["subscribed_processes"] == 3);
  CHECK(g["published"] == 5);
  CHECK(g["undelivered"] == 0);
  CHECK(g["name_cut"] == false);
  CHECK(subscribers_by_node(g)
        == std::map<std::string, uint64_t>{{"c1", 2}, {"c2", 1}, {"test-server", 1}});
  for (auto& p : g["processes"]) {
    bool server = p["node"] == "test-server";
    CHECK(p["published"] == (server ? 5 : 0));
    CHECK(p["records_out"] == (server ? 10 : 0));
    CHECK(p["records_in"] == (server ? 0 : 5));
  }
  auto txs = group_of(doc, "txs");
  REQUIRE_MESSAGE(!txs.is_null(), doc["groups"].dump(2));
  CHECK(txs["subscribers"] == 1);
  CHECK(txs["subscribed_processes"] == 1);
  CHECK(subscribers_by_node(txs) == std::map<std::string, uint64_t>{{"c1", 1}});
  CHECK(doc["group_summary_problems"].empty());

  auto text = shmbusctl({"show", fx.bus.name});
  CHECK(text.code == 0);
  CHECK_MESSAGE(contains(text.out, "blocks: 4 subscribers in 3 processes; published 5, records "
                                   "out 10, undelivered 0, records in 10"),
                text.out);
  CHECK_MESSAGE(contains(text.out, "txs: 1 subscribers in 1 processes"), text.out);
  CHECK_MESSAGE(contains(text.out, "subscribers 2, published 0, records out 0, undelivered 0, "
                                   "records in 5"),
                text.out);

  auto metrics = shmbusctl({"metrics", fx.bus.name});
  CHECK(metrics.code == 0);
  CHECK_MESSAGE(contains(metrics.out, "shmbus_group_subscribers{bus=\"" + fx.bus.name
                                        + "\",group=\"blocks\",node=\"c1\",slot=\""),
                metrics.out);
  CHECK_MESSAGE(contains(metrics.out, "shmbus_group_records_out_total{bus=\"" + fx.bus.name
                                        + "\",group=\"blocks\",node=\"test-server\",slot=\"0\"} 10"),
                metrics.out);

  // kill -9 c1: its rows stop counting with its incarnation.
  c1.signal(SIGKILL);
  REQUIRE(c1.wait(10s));
  auto dropped = wait_until(
    [&] {
      doc = shmbusctl_json("show", fx.bus.name);
      return group_of(doc, "txs").is_null()
             && subscribers_by_node(group_of(doc, "blocks"))
                  == std::map<std::string, uint64_t>{{"c2", 1}, {"test-server", 1}};
    },
    10s);
  CHECK_MESSAGE(dropped, doc["groups"].dump(2));
  // The last local subscriber leaving frees a row that nothing published to.
  c2.signal(SIGTERM);
  REQUIRE(c2.wait(10s));
  caf::anon_send_exit(mine, caf::exit_reason::user_shutdown);
  CHECK(wait_until(
    [&] {
      auto g = group_of(shmbusctl_json("show", fx.bus.name), "blocks");
      return !g.is_null() && g["subscribers"] == 0 && g["processes"].size() == 1;
    },
    10s));
}

// args: bus, milliseconds. Maps the bus's segment and scribbles on its group
// summary for that long: random words in random rows of every slot, and
// rows that claim a live owner with a bad name, name length, reserved word
// or another slot. Prints "scribbling", then "done" and waits for SIGTERM.
SHMBUS_CHILD_ROLE("group-summary-scribbler") {
  block_stop_signals();
  auto seg = transport::segment::attach(args.at(0));
  if (!seg) {
    std::printf("error %s\n", seg.err().message.c_str());
    return 2;
  }
  std::mt19937_64 rng{std::random_device{}()};
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds{std::stol(args.at(1))};
  std::printf("scribbling\n");
  std::fflush(stdout);
  auto slots = seg->node_slots();
  uint64_t pass = 0;
  do {
    auto slot = static_cast<uint32_t>(rng() % slots);
    auto& e = seg->group_row(slot, static_cast<uint32_t>(rng() % transport::group_rows_per_node));
    // A live owner (the server, slot 0) where one is needed to be read.
    auto live = seg->slot(0).state.load();
    auto owner = transport::make_name_state(transport::name_entry_state::valid, slot,
                                            transport::incarnation_of(live));
    switch (pass++ % 6) {
      case 0: // random words everywhere
        for (auto* w : {&e.state, &e.version, &e.local_subscribers, &e.published,
                        &e.records_out, &e.undelivered, &e.records_in})
          w->store(rng());
        e.name_bytes.store(static_cast<uint32_t>(rng()));
        e.reserved.store(static_cast<uint32_t>(rng()));
        for (auto& w : e.name.words)
          w.store(rng());
        break;
      case 1: // a control character in the name
        e.name.store("bad\x01name");
        e.name_bytes.store(8);
        e.state.store(owner);
        break;
      case 2: // a name length that does not fit
        e.name.store("short");
        e.name_bytes.store(200);
        e.state.store(owner);
        break;
      case 3: // another slot's owner
        e.state.store(transport::make_name_state(transport::name_entry_state::valid,
                                                 (slot + 1) % slots, 1));
        break;
      case 4: // an odd version (a writer that died mid-write)
        e.version.store(rng() | 1);
        break;
      case 5: // an absurd subscriber count
        e.local_subscribers.store(~uint64_t{0});
        e.state.store(owner);
        break;
    }
    // A scribbler's pace, not a synchronisation.
    std::this_thread::sleep_for(std::chrono::microseconds{200});
  } while (std::chrono::steady_clock::now() < until && !stop_requested());
  if (stop_requested())
    return 0;
  std::printf("done\n");
  std::fflush(stdout);
  wait_for_stop_signal(std::chrono::seconds{60});
  return 0;
}

TEST_CASE("a process scribbling the group summary gets its garbage reported or ignored "
          "while shmbusctl reads and honest processes publish") {
  module_fixture fx{"ctl-groups-scribble"};
  auto blocks = must_get(*fx.sys, "blocks");
  auto mine = fx.sys->spawn(group_subscriber, blocks);
  auto c1 = child_process::spawn("group-client", {fx.bus.name, "c1", "blocks=1"});
  REQUIRE(c1.expect_line("ready", 20s));
  REQUIRE(wait_until([&] { return seen(fx.node, "blocks") == std::pair<size_t, size_t>{1, 1}; },
                     10s));
  auto scribbler = child_process::spawn("group-summary-scribbler", {fx.bus.name, "1500"});
  REQUIRE(scribbler.expect_line("scribbling", 10s));
  int runs = 0;
  int failed_runs = 0;
  bool reported = false;
  auto until = std::chrono::steady_clock::now() + 1500ms;
  while (std::chrono::steady_clock::now() < until) {
    publish(*fx.sys, blocks, 20);
    // shmbusctl() fails the test if a run does not end within its deadline.
    auto json = shmbusctl({"show", fx.bus.name, "--json"});
    auto text = shmbusctl({"show", fx.bus.name});
    ++runs;
    if (json.code != 0 || text.code != 0)
      ++failed_runs;
    auto doc = nlohmann::json::parse(json.out, nullptr, false);
    if (doc.is_discarded())
      ++failed_runs;
    else
      reported = reported || !doc["group_summary_problems"].empty();
    reported = reported || contains(text.out, "(left out)");
  }
  REQUIRE(scribbler.expect_line("done", 10s));
  MESSAGE(runs << " shmbusctl runs while scribbled");
  CHECK(failed_runs == 0);
  CHECK(reported);
  // The honest processes still deliver to each other.
  auto before = seen(fx.node, "blocks");
  CHECK(before == std::pair<size_t, size_t>{1, 1});
  auto out_before = uint64_t{0};
  for (auto& x : fx.node.groups())
    if (x.name == "blocks")
      out_before = x.records_out;
  publish(*fx.sys, blocks, 5);
  CHECK(wait_until(
    [&] {
      for (auto& x : fx.node.groups())
        if (x.name == "blocks")
          return x.records_out == out_before + 5;
      return false;
    },
    10s));
  scribbler.signal(SIGTERM);
  CHECK(scribbler.wait(10s).has_value());
  c1.signal(SIGTERM);
  CHECK(c1.wait(10s).has_value());
  caf::anon_send_exit(mine, caf::exit_reason::user_shutdown);
}
