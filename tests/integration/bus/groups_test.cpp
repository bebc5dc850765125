// CAF groups across processes (`shmbus` group module): actors of several
// processes join, leave and send to groups with CAF's own API; every
// subscriber gets each publisher's messages in order; a process that is
// killed takes its subscriptions with it; a group handle works in a process
// that never asked for it; forged group records are refused and counted.
#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <map>
#include <mutex>

#include "forged_records.hpp"
#include "shmbus/bus/group_view.hpp"
#include "shmbus/transport/node.hpp"
#include "test_types.hpp"
#include "text.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

using go_atom = caf::atom_constant<caf::atom("go")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;

constexpr std::array<const char*, 3> group_names = {"g1", "g2", "g3"};

caf::group must_get(caf::actor_system& sys, const std::string& name) {
  auto g = sys.groups().get("shmbus", name);
  REQUIRE_MESSAGE(g, "sys.groups().get(\"shmbus\", " << name << "): " << sys.render(g.error()));
  return *g;
}

/// What the subscribers of one process saw, per group.
struct tally {
  std::mutex mtx;
  std::map<std::string, int32_t> received;
  int32_t out_of_order = 0;
};

struct subscriber_state {
  std::map<std::string, int32_t> last; // per publisher
};

/// Joins `g`; counts (publisher, seq) messages in `t` and checks that each
/// publisher's sequence numbers only grow. With `churn`, leaves and joins
/// again every few messages (order must hold across the gaps).
caf::behavior subscriber(caf::stateful_actor<subscriber_state>* self, caf::group g,
                         std::string name, std::shared_ptr<tally> t, bool churn) {
  self->join(g);
  return {
    [=](const std::string& from, int32_t seq) {
      auto& last = self->state.last[from];
      {
        std::lock_guard<std::mutex> guard(t->mtx);
        if (seq <= last)
          ++t->out_of_order;
        if (!churn)
          ++t->received[name];
      }
      last = seq;
      if (churn && seq % 7 == 0) {
        self->leave(g);
        self->delayed_send(self, std::chrono::milliseconds{1}, caf::join_atom::value);
      }
    },
    [=](caf::join_atom) { self->join(g); },
  };
}

/// Answers (stats_atom, group) with what this process's subscribers got,
/// and (stats_atom) with how many arrived out of order.
caf::behavior stats_impl(std::shared_ptr<tally> t) {
  return {
    [=](stats_atom, const std::string& g) {
      std::lock_guard<std::mutex> guard(t->mtx);
      return t->received[g];
    },
    [=](stats_atom) {
      std::lock_guard<std::mutex> guard(t->mtx);
      return t->out_of_order;
    },
  };
}

/// Sends `n` messages (name, seq) to each group, seq counting on from `first`.
void publish_round(caf::actor_system& sys, const std::string& name, int32_t first, int32_t n) {
  caf::scoped_actor self{sys};
  std::vector<caf::group> gs;
  for (auto g : group_names) // children run this too: no doctest assertion here
    gs.push_back(*sys.groups().get("shmbus", g));
  for (int32_t i = first; i < first + n; ++i)
    for (auto& g : gs)
      self->send(g, name, i);
}

using expectation_t = std::map<std::string, size_t>;

/// The subscribed processes of group `g` as `node` sees them.
std::vector<std::string> processes_of(const bus::node& node, const std::string& g) {
  for (auto& x : node.groups())
    if (x.name == g) {
      auto ps = x.processes;
      std::sort(ps.begin(), ps.end());
      return ps;
    }
  return {};
}

/// Waits until `node`'s process has at least `want` subscribers per group.
bool joined_locally(const bus::node& node, const expectation_t& want) {
  return wait_until(
    [&] {
      for (auto& [g, n] : want) {
        size_t k = 0;
        for (auto& x : node.groups())
          if (x.name == g)
            k = x.local_subscribers;
        if (k < n)
          return false;
      }
      return true;
    },
    std::chrono::seconds{10});
}

int32_t ask(caf::scoped_actor& self, const caf::actor& stats, const std::string& g) {
  int32_t n = -1;
  self->request(stats, std::chrono::seconds{2}, stats_atom::value, g)
    .receive([&](int32_t x) { n = x; }, [](caf::error&) {});
  return n;
}

int32_t out_of_order(caf::scoped_actor& self, const caf::actor& stats) {
  int32_t n = -1;
  self->request(stats, std::chrono::seconds{2}, stats_atom::value)
    .receive([&](int32_t x) { n = x; }, [](caf::error&) {});
  return n;
}

using expectation = std::map<std::string, int32_t>;

/// Waits until the subscribers behind `stats` got `want` per group.
bool received_all(caf::scoped_actor& self, const caf::actor& stats, const expectation& want) {
  return wait_until(
    [&] {
      for (auto& [g, n] : want)
        if (ask(self, stats, g) != n)
          return false;
      return true;
    },
    std::chrono::seconds{20});
}

void check_counts(caf::scoped_actor& self, const caf::actor& stats, const expectation& want,
                  const std::string& who) {
  for (auto& [g, n] : want)
    CHECK_MESSAGE(ask(self, stats, g) == n, who << " " << g);
}

} // namespace

TEST_CASE("four processes share three groups: every subscriber gets each publisher's "
          "messages in order while others join and leave and a killed process's "
          "subscriptions vanish") {
  scoped_bus bus{"groups-four"};
  bus_process<test_config> srv{bus.name, "server", "srv"};
  auto t = std::make_shared<tally>();
  // srv: a local subscriber of each group beside the remote ones.
  std::vector<caf::actor> mine;
  for (auto g : group_names)
    mine.push_back(srv.sys->spawn(subscriber, must_get(*srv.sys, g), g, t, false));
  auto stats = srv.sys->spawn(stats_impl, t);
  REQUIRE(joined_locally(srv.node, {{"g1", 1}, {"g2", 1}, {"g3", 1}}));
  auto m1 = child_process::spawn("group-member", {bus.name, "m1", "2"});
  auto m2 = child_process::spawn("group-member", {bus.name, "m2", "1"});
  auto pub = child_process::spawn("group-publisher", {bus.name, "pub"});
  await_ready(m1);
  await_ready(m2);
  await_ready(pub);
  auto members = std::vector<std::string>{"m1", "m2"};
  auto with_srv = std::vector<std::string>{"m1", "m2", "srv"};
  REQUIRE(wait_until(
    [&] {
      return processes_of(srv.node, "g1") == members && processes_of(srv.node, "g2") == members
             && processes_of(srv.node, "g3") == members;
    },
    10s));
  caf::scoped_actor self{*srv.sys};
  auto pub_go = must_lookup(srv.node, "pub.go");
  auto m1_stats = must_lookup(srv.node, "m1.stats");
  auto m2_stats = must_lookup(srv.node, "m2.stats");
  // Both publishers at once: pub waits until it sees every subscribed
  // process (srv included), then sends.
  constexpr int32_t n = 300;
  bool pub_done = false;
  self->request(pub_go, 30s, go_atom::value, int32_t{1}, n, int32_t{3})
    .receive([&](bool ok) { pub_done = ok; }, [](caf::error&) {});
  CHECK(pub_done);
  publish_round(*srv.sys, "srv", 1, n);
  // m1 has two stable subscribers of g1 (and a churning one of g3).
  CHECK(received_all(self, m1_stats, {{"g1", 4 * n}, {"g2", 2 * n}, {"g3", 2 * n}}));
  CHECK(received_all(self, m2_stats, {{"g1", 2 * n}, {"g2", 2 * n}, {"g3", 2 * n}}));
  CHECK(received_all(self, stats, {{"g1", 2 * n}, {"g2", 2 * n}, {"g3", 2 * n}}));
  CHECK(out_of_order(self, m1_stats) == 0);
  CHECK(out_of_order(self, m2_stats) == 0);
  CHECK(out_of_order(self, stats) == 0);
  // One record per subscribed process and message, however many subscriber
  // actors a process has (m1 has two of g1, three of g3 at times).
  for (auto& x : srv.node.groups()) {
    CHECK_MESSAGE(x.undelivered == 0, x.name);
    CHECK_MESSAGE(x.published == uint64_t(n), x.name);
    CHECK_MESSAGE(x.records_out == 2 * x.published, x.name);
    CHECK_MESSAGE(x.records_in == uint64_t(n), x.name); // from pub
    CHECK_MESSAGE(x.local_subscribers == 1, x.name);
  }
  // kill -9 m2: its subscriptions vanish everywhere, the others keep
  // receiving in order.
  m2.signal(SIGKILL);
  auto only_m1 = std::vector<std::string>{"m1"};
  CHECK(wait_until(
    [&] {
      return processes_of(srv.node, "g1") == only_m1 && processes_of(srv.node, "g2") == only_m1
             && processes_of(srv.node, "g3") == only_m1;
    },
    10s));
  pub_done = false;
  self->request(pub_go, 30s, go_atom::value, n + 1, n, int32_t{2})
    .receive([&](bool ok) { pub_done = ok; }, [](caf::error&) {});
  CHECK(pub_done);
  publish_round(*srv.sys, "srv", n + 1, n);
  CHECK(received_all(self, m1_stats, {{"g1", 8 * n}, {"g2", 4 * n}, {"g3", 4 * n}}));
  CHECK(received_all(self, stats, {{"g1", 4 * n}, {"g2", 4 * n}, {"g3", 4 * n}}));
  CHECK(out_of_order(self, m1_stats) == 0);
  CHECK(out_of_order(self, stats) == 0);
  check_counts(self, m1_stats, {{"g1", 8 * n}}, "m1");
  for (auto& x : mine)
    caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(stats, caf::exit_reason::user_shutdown);
  stop_child(srv.node, pub);
  stop_child(srv.node, m1);
}

TEST_CASE("the shmbus group module refuses bad identifiers and keeps at most max_groups "
          "groups, making room from the unused ones") {
  scoped_bus bus{"groups-bounds"};
  bus_process<test_config> srv{bus.name, "server", "srv"};
  auto& groups = srv.sys->groups();
  auto empty = groups.get("shmbus", "");
  CHECK_FALSE(empty);
  auto overlong = groups.get("shmbus", std::string(bus::max_group_name + 1, 'g'));
  REQUIRE_FALSE(overlong);
  CHECK(contains(srv.sys->render(overlong.error()), "at most 255"));
  CHECK(groups.get("shmbus", std::string(bus::max_group_name, 'g')));
  // Held handles keep their groups: the bound holds.
  std::vector<caf::group> held;
  for (size_t i = 0; i < bus::max_groups + 10; ++i) {
    auto g = groups.get("shmbus", "held-" + std::to_string(i));
    if (!g)
      break;
    held.push_back(*g);
  }
  // The 255-byte group is held by nobody: it made room.
  CHECK(held.size() == bus::max_groups);
  auto refused = groups.get("shmbus", "one-too-many");
  REQUIRE_FALSE(refused);
  CHECK(contains(srv.sys->render(refused.error()), "shmbus::bus::max_groups"));
  // The same identifier is the same group.
  CHECK(*groups.get("shmbus", "held-0") == held.front());
  held.clear();
  CHECK(groups.get("shmbus", "one-too-many"));
}

TEST_CASE("a subscribed process that stops consuming costs the others no message and what "
          "its full inbox could not take is counted") {
  scoped_bus bus{"groups-stuck"};
  bus_process<test_config> srv{bus.name, "server", "srv", [](test_config& cfg) {
    cfg.shmbus.inbox_size = 64 * 1024;
    cfg.shmbus.max_message_size = 16 * 1024;
    // Long enough that m1, which keeps consuming, never misses one on a
    // loaded machine; short beside the heartbeat timeout (2 s).
    cfg.shmbus.full_inbox_timeout = std::chrono::milliseconds{300};
  }};
  auto m1 = child_process::spawn("group-member", {bus.name, "m1", "1"});
  auto m2 = child_process::spawn("group-member", {bus.name, "m2", "1"});
  await_ready(m1);
  await_ready(m2);
  auto members = std::vector<std::string>{"m1", "m2"};
  REQUIRE(wait_until([&] { return processes_of(srv.node, "g1") == members; }, 10s));
  caf::scoped_actor self{*srv.sys};
  auto m1_stats = must_lookup(srv.node, "m1.stats");
  m2.signal(SIGSTOP);
  // 1 KiB events: m2's inbox takes about 60 of them, then every event waits
  // full-inbox-timeout for it until its peers declare it hung (2 s).
  constexpr int32_t n = 400;
  auto g1 = must_get(*srv.sys, "g1");
  auto from = "srv" + std::string(1024, '.'); // the publisher's name, 1 KiB long
  for (int32_t i = 1; i <= n; ++i)
    self->send(g1, from, i);
  CHECK(received_all(self, m1_stats, {{"g1", n}}));
  CHECK(out_of_order(self, m1_stats) == 0);
  CHECK(wait_until([&] { return processes_of(srv.node, "g1") == std::vector<std::string>{"m1"}; },
                   10s));
  uint64_t undelivered = 0;
  for (auto& x : srv.node.groups())
    if (x.name == "g1")
      undelivered = x.undelivered;
  CHECK(undelivered > 0);
  m2.signal(SIGKILL);
  stop_child(srv.node, m1);
}

TEST_CASE("group records and messages that wait behind a full inbox and fail there are counted "
          "as undelivered") {
  scoped_bus bus{"groups-held"};
  bus_process<test_config> srv{bus.name, "server", "srv", [](test_config& cfg) {
    // The stopped member must not count as hung: its records fail for lack
    // of progress (full-inbox-timeout), in the outbox's queue.
    cfg.shmbus.heartbeat_interval = 100ms;
    cfg.shmbus.heartbeat_timeout = 30s;
    cfg.shmbus.full_inbox_timeout = 300ms;
    cfg.shmbus.inbox_size = 8192;
    cfg.shmbus.max_message_size = 2048;
  }};
  auto m1 = child_process::spawn("group-member", {bus.name, "m1", "1"});
  await_ready(m1);
  REQUIRE(wait_until([&] { return processes_of(srv.node, "g1") == std::vector<std::string>{"m1"}; },
                     10s));
  m1.signal(SIGSTOP);
  REQUIRE(wait_until([&] { return is_stopped(m1.pid()); }, 5s));
  forge::fill_inbox(srv.node.transport_node(), peer_of(srv.node, m1.pid()));
  // Its watch meets the full inbox: from here on records for m1 are held.
  auto m1_stats = must_lookup(srv.node, "m1.stats");
  auto undelivered_before = srv.node.undelivered();
  caf::scoped_actor self{*srv.sys};
  constexpr int32_t n = 5;
  auto g1 = must_get(*srv.sys, "g1");
  for (int32_t i = 1; i <= n; ++i)
    self->send(g1, std::string{"srv"}, i);
  self->send(m1_stats, go_atom::value);
  self->send(m1_stats, go_atom::value);
  caf::error answer;
  self->request(m1_stats, 10s, stats_atom::value).receive([](int32_t) {}, [&](caf::error& err) {
    answer = err;
  });
  CHECK_MESSAGE(answer == bus::errc::inbox_full, srv.sys->render(answer));
  CHECK_MESSAGE(contains(srv.sys->render(answer), "shmbus.full-inbox-timeout"),
                srv.sys->render(answer));
  // The request failed last of what was held for m1, and every record is
  // counted before a requester learns of its failure.
  bus::group_view row;
  for (auto& x : srv.node.groups())
    if (x.name == "g1")
      row = x;
  CHECK(row.undelivered == n);
  CHECK(row.published == n);
  CHECK(row.records_out == 0); // each moved from records out to undelivered
  // The two plain sends and the request.
  CHECK(srv.node.undelivered() - undelivered_before == 3);
  m1.signal(SIGCONT);
  stop_child(srv.node, m1);
}

TEST_CASE("a group handle sent to a process that never asked for it names the same group "
          "there and its subscriber's exit takes the process out of the group") {
  scoped_bus bus{"groups-handle"};
  bus_process<test_config> srv{bus.name, "server", "srv"};
  auto child = child_process::spawn("group-joiner", {bus.name, "j"});
  await_ready(child);
  auto joiner = must_lookup(srv.node, "j.joiner");
  caf::scoped_actor self{*srv.sys};
  auto news = must_get(*srv.sys, "news");
  bool joined = false;
  self->request(joiner, 5s, caf::join_atom::value, news, caf::actor_cast<caf::actor>(self))
    .receive([&](bool ok) { joined = ok; }, [&](caf::error& err) { FAIL(srv.sys->render(err)); });
  CHECK(joined);
  auto only_j = std::vector<std::string>{"j"};
  REQUIRE(wait_until([&] { return processes_of(srv.node, "news") == only_j; }, 10s));
  self->send(news, std::string{"block"}, int32_t{42});
  std::string got;
  CHECK(receive_within(self, 5s, [&](const std::string& what, int32_t x) {
    got = what + ":" + std::to_string(x);
  }));
  CHECK(got == "news:block:42");
  // A group of CAF's local module does not cross: the sender learns why.
  auto local = srv.sys->groups().get("local", "news");
  REQUIRE(local);
  caf::error refused;
  self->request(joiner, 5s, caf::join_atom::value, *local, caf::actor_cast<caf::actor>(self))
    .receive([](bool) {}, [&](caf::error& err) { refused = err; });
  CHECK_MESSAGE(refused == caf::sec::invalid_argument, srv.sys->render(refused));
  CHECK(contains(srv.sys->render(refused), "only groups of module 'shmbus' cross the bus"));
  // The subscriber quits: the process has none left, so it leaves.
  caf::anon_send_exit(joiner, caf::exit_reason::user_shutdown);
  CHECK(wait_until([&] { return processes_of(srv.node, "news").empty(); }, 10s));
  stop_child(srv.node, child);
}

TEST_CASE("forged group records are refused and counted and the groups keep working") {
  scoped_bus bus{"groups-forged"};
  bus_process<test_config> srv{bus.name, "server", "srv"};
  auto t = std::make_shared<tally>();
  auto sub = srv.sys->spawn(subscriber, must_get(*srv.sys, "g1"), "g1", t, false);
  auto stats = srv.sys->spawn(stats_impl, t);
  auto before = srv.node.rejected_records();
  auto forger = child_process::spawn("group-forger", {bus.name, std::to_string(::getpid())});
  auto line = forger.read_line(20s);
  REQUIRE(line);
  REQUIRE_MESSAGE(contains(*line, "forged "), *line);
  auto refused = std::stoi(line->substr(7));
  CHECK(wait_until([&] { return srv.node.rejected_records() - before == uint64_t(refused); },
                   10s));
  CHECK(srv.node.rejected_records() - before == uint64_t(refused));
  // The honest records of the forger (a valid join, then a valid message)
  // were taken, the rest not: g1 got exactly one message from it.
  caf::scoped_actor self{*srv.sys};
  CHECK(received_all(self, stats, {{"g1", 1}}));
  // Groups still work: a local publish reaches the local subscriber.
  publish_round(*srv.sys, "srv", 1, 5);
  CHECK(received_all(self, stats, {{"g1", 6}}));
  forger.signal(SIGKILL);
  forger.wait(5s);
  caf::anon_send_exit(sub, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(stats, caf::exit_reason::user_shutdown);
}

// args: bus, name, stable subscribers of g1. Subscribes to g1 (that many
// actors), g2, g3 and, in m1, a churning subscriber of g3; publishes
// "<name>.stats".
SHMBUS_CHILD_ROLE("group-member") {
  child_bus<test_config> p{args.at(0), "client", args.at(1)};
  auto t = std::make_shared<tally>();
  std::vector<caf::actor> subs;
  auto g = [&](const char* name) { return *p.sys->groups().get("shmbus", name); };
  for (int i = 0; i < std::stoi(args.at(2)); ++i)
    subs.push_back(p.sys->spawn(subscriber, g("g1"), "g1", t, false));
  subs.push_back(p.sys->spawn(subscriber, g("g2"), "g2", t, false));
  subs.push_back(p.sys->spawn(subscriber, g("g3"), "g3", t, false));
  if (args.at(1) == "m1")
    subs.push_back(p.sys->spawn(subscriber, g("g3"), "g3-churn", t, true));
  auto stats = p.sys->spawn(stats_impl, t);
  if (!joined_locally(p.node, {{"g1", std::stoul(args.at(2))}, {"g2", 1}, {"g3", 1}})) {
    say("error: the subscribers did not join");
    return 3;
  }
  p.publish(stats, args.at(1) + ".stats");
  say("ready");
  p.await_stop();
  for (auto& x : subs)
    caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(stats, caf::exit_reason::user_shutdown);
  return 0;
}

// args: bus, name. Publishes "<name>.go": (go, first, n, processes) waits
// until every group has `processes` subscribed processes, sends n messages
// to each group and answers true.
SHMBUS_CHILD_ROLE("group-publisher") {
  child_bus<test_config> p{args.at(0), "client", args.at(1)};
  auto node = p.node;
  auto name = args.at(1);
  // Detached: it waits for the subscriptions, which the bus's I/O thread
  // brings in.
  auto go = p.sys->spawn<caf::detached>([=](caf::event_based_actor* self) -> caf::behavior {
    return {[=](go_atom, int32_t first, int32_t n, int32_t processes) {
      auto seen = wait_until(
        [&] {
          for (auto g : group_names) {
            size_t k = 0;
            for (auto& x : node.groups())
              if (x.name == g)
                k = x.processes.size();
            if (k != static_cast<size_t>(processes))
              return false;
          }
          return true;
        },
        std::chrono::seconds{10});
      if (!seen)
        return false;
      publish_round(self->system(), name, first, n);
      return true;
    }};
  });
  p.publish(go, name + ".go");
  say("ready");
  p.await_stop();
  caf::anon_send_exit(go, caf::exit_reason::user_shutdown);
  return 0;
}

// args: bus, name. Publishes "<name>.joiner": (join, group, reporter) joins
// the group and answers true; what the group sends goes to the reporter as
// (group name + ":" + text, x).
SHMBUS_CHILD_ROLE("group-joiner") {
  child_bus<test_config> p{args.at(0), "client", args.at(1)};
  auto joiner = p.sys->spawn([](caf::event_based_actor* self) -> caf::behavior {
    auto reporter = std::make_shared<caf::actor>();
    auto name = std::make_shared<std::string>();
    return {
      [=](caf::join_atom, caf::group g, caf::actor r) {
        *reporter = r;
        *name = g.get()->identifier();
        self->join(g);
        return true;
      },
      [=](const std::string& what, int32_t x) {
        self->send(*reporter, *name + ":" + what, x);
      },
    };
  });
  p.publish(joiner, args.at(1) + ".joiner");
  say("ready");
  p.await_stop();
  caf::anon_send_exit(joiner, caf::exit_reason::user_shutdown);
  return 0;
}

namespace {

forge::bytes group_record(uint8_t kind, const std::string& name) {
  forge::bytes out;
  out.push_back(static_cast<char>(kind));
  out.push_back(static_cast<char>(name.size()));
  for (auto c : name)
    out.push_back(c);
  return out;
}

} // namespace

// args: bus, pid of the target. A transport node with a CAF node id that
// writes forged group records into the target's inbox; prints "forged <n>"
// (how many must be refused). Honest among them: a join of g1 and one
// message to g1.
SHMBUS_CHILD_ROLE("group-forger") {
  using forge::operator+;
  test_config cfg;
  caf::actor_system sys{cfg};
  auto started = transport::node::start(forge::forger_options(sys, args.at(0), "group-forger"));
  if (!started) {
    say("error: " + started.err().message);
    return 3;
  }
  auto& node = **started;
  auto pid = std::stoi(args.at(1));
  std::pair<uint32_t, uint32_t> to{0, 0};
  for (auto& peer : node.peers())
    if (peer.pid == pid)
      to = {peer.slot, peer.incarnation};
  constexpr uint8_t join = 16, leave = 17, message = 18;
  auto sender = [](forge::bytes rec) {
    rec.push_back(1); // sender tag: an actor of the sending process
    forge::put_u64(rec, forge::forger_actor);
    return rec;
  };
  auto payload_of = [&](const caf::message& msg) { return forge::content(sys, msg); };
  std::vector<forge::bytes> refused_flood;
  std::vector<forge::bytes> refused = {
    {static_cast<char>(join)},                                   // no name length
    {static_cast<char>(join), 0},                                // empty name
    {static_cast<char>(leave), 9, 'g'},                          // name past the end
    group_record(join, "g1") + forge::bytes{1, 2},               // bytes after the name
    group_record(message, "g1"),                                 // no sender
    sender(group_record(message, "g1")) + forge::bytes{7, 7, 7}, // garbage content
    sender(group_record(message, "g1")) + payload_of(caf::make_message(std::string{"srv"}, int32_t{1}))
      + forge::bytes{0}, // a byte after the content
    sender(group_record(message, "g1"))
      + payload_of(caf::make_message(*sys.groups().get("local", "x"))), // a local group
    {static_cast<char>(40), 1, 2, 3},                                    // an unknown kind
  };
  // A flood of subscriptions: the target keeps bus::max_groups groups and
  // refuses the rest (it knows g1 already: the honest join below).
  constexpr size_t extra = 5;
  for (size_t i = 0; i + 1 < bus::max_groups + extra; ++i)
    refused_flood.push_back(group_record(join, "flood-" + std::to_string(i)));
  std::vector<forge::bytes> honest = {
    group_record(join, "g1"),
    sender(group_record(message, "g1")) + payload_of(caf::make_message(std::string{"forger"}, int32_t{1})),
  };
  auto send = [&](const forge::bytes& rec) {
    for (;;) {
      auto err = node.send(to.first, to.second, rec.data(), rec.size(), std::chrono::milliseconds{10});
      if (err.code != transport::errc::inbox_full)
        return;
    }
  };
  for (auto& x : refused)
    send(x);
  for (auto& x : honest)
    send(x);
  for (auto& x : refused_flood)
    send(x);
  say("forged " + std::to_string(refused.size() + extra));
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds{60};
  struct quiet : transport::inbox_handler {
    void on_message(const transport::message_view&) override {}
  } handler;
  while (std::chrono::steady_clock::now() < until)
    node.run_once(handler, std::chrono::milliseconds{50});
  return 0;
}
