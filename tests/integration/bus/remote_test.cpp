// Several machines: buses on one host play the machines, over 127.0.0.1
// with ports the kernel picks. Each "machine process" is an OS process of
// its own (CAF derives the node id from the pid): the test process is the
// server of machine A, children are the other processes.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/io/middleman.hpp>

#include "role_helpers.hpp"
#include "test_types.hpp"
#include "text.hpp"
#include "wait.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

using append_atom = caf::atom_constant<caf::atom("append")>;
using quit_atom = caf::atom_constant<caf::atom("quit")>;
using report_atom = caf::atom_constant<caf::atom("report")>;

struct ledger_state {
  std::string log;
  std::vector<caf::response_promise> held;
};

/// The actor other machines use: answers an int with its successor, keeps
/// the order of appends, holds "hang" requests unanswered, and exits with
/// user_shutdown when told to quit (the "real" exit reason the other side
/// must see).
caf::behavior ledger(caf::stateful_actor<ledger_state>* self) {
  return {
    [=](int32_t x) { return x + 1; },
    [=](append_atom, int32_t i) { self->state.log += std::to_string(i) + ","; },
    [=](caf::get_atom) { return self->state.log; },
    [=](hang_atom) {
      self->state.held.push_back(self->make_response_promise());
      return self->state.held.back();
    },
    [=](quit_atom) { self->quit(caf::exit_reason::user_shutdown); },
  };
}

/// Answers get_atom with the handle it keeps.
caf::behavior keeper(caf::event_based_actor*, caf::actor kept) {
  return {[=](caf::get_atom) { return kept; }};
}

calc_actor::behavior_type adder() {
  return {[](int32_t x, int32_t y) { return x + y; }};
}

/// Returns every handle it gets.
caf::behavior bouncer() {
  return {[](caf::actor& x) { return x; }};
}

struct watcher_state {
  int32_t exits = 0;
  std::string exit_reason;
  std::string down_reason;
};

/// Links to and monitors `target`, trapping exits; report_atom answers
/// (exits, exit reason, down reason) once the down_msg arrived.
caf::behavior watcher(caf::stateful_actor<watcher_state>* self, caf::actor target) {
  self->set_exit_handler([=](caf::exit_msg& x) {
    ++self->state.exits;
    self->state.exit_reason = self->system().render(x.reason);
  });
  self->set_down_handler([=](caf::down_msg& x) {
    self->state.down_reason = self->system().render(x.reason);
  });
  self->link_to(target);
  self->monitor(target);
  return {
    [=](report_atom) {
      return std::make_tuple(self->state.exits, self->state.exit_reason, self->state.down_reason);
    },
  };
}

/// The watcher traps exits: only kill ends it.
struct kill_on_scope_end {
  caf::actor actor;
  ~kill_on_scope_end() { caf::anon_send_exit(actor, caf::exit_reason::kill); }
};

/// Remote on, the seeds given, liveness of the bus as in every test.
void remote_on(test_config& cfg, const std::vector<std::string>& seeds) {
  cfg.shmbus.remote = true;
  cfg.shmbus.remote_seeds = seeds;
  cfg.shmbus.remote_refresh = std::chrono::milliseconds{100};
}

/// A TCP port of 127.0.0.1 that was free a moment ago (for a machine that
/// must start after the process seeded with its address).
uint16_t free_tcp_port() {
  auto fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  auto bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0
               && ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  REQUIRE(bound);
  return ntohs(addr.sin_port);
}

std::string seed_of(uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

/// A machine process started as a child: prints "port N", then "ready".
/// The port a child names in its first line, "port N".
uint16_t read_port(child_process& child) {
  auto line = child.read_line(std::chrono::seconds{10});
  REQUIRE_MESSAGE(line, "the child printed nothing");
  REQUIRE_MESSAGE(line->rfind("port ", 0) == 0, *line);
  return static_cast<uint16_t>(std::stoi(line->substr(5)));
}

struct machine_child {
  machine_child(const std::vector<std::string>& args)
    : proc(child_process::spawn("machine", args)), port(read_port(proc)) {
    await_ready(proc);
  }
  ~machine_child() {
    proc.signal(SIGCONT);
    proc.signal(SIGKILL);
  }
  child_process proc;
  uint16_t port = 0;
};

/// Waits until `n` processes of other machines are connected to `node`.
void await_connections(const bus::node& node, size_t n) {
  REQUIRE_MESSAGE(wait_until([&] { return node.remote().connections >= n; },
                             std::chrono::seconds{10}),
                  "connections: " << node.remote().connections << " of " << n);
}

/// Machine B, a child bus server started with `b_args` (besides its bus and
/// role), and machine A, this process's bus server seeded with B,
/// connected to it.
struct two_machines {
  two_machines(const std::string& name, std::vector<std::string> b_args)
    : bus_a{name + "-a"},
      bus_b{name + "-b"},
      b{with_bus(bus_b.name, std::move(b_args))},
      a{bus_a.name, "server", "a", [this](test_config& c) { remote_on(c, {seed_of(b.port)}); }} {
    await_connections(a.node, 1);
  }

  static std::vector<std::string> with_bus(const std::string& bus, std::vector<std::string> args) {
    args.insert(args.begin(), {"bus=" + bus, "role=server"});
    return args;
  }

  scoped_bus bus_a;
  scoped_bus bus_b;
  machine_child b;
  bus_process<test_config> a;
};

/// Machine B (a ledger, started with `b_args`), a fake directory that lists
/// B's server at 127.0.0.2 too, and machine A seeded from both: A refuses
/// the second endpoint of B's node id it meets, naming the one it saw
/// first, the one B's directory lists.
struct seen_twice {
  seen_twice(const std::string& name, std::vector<std::string> b_args)
    : bus_a{name + "-a"},
      bus_b{name + "-b"},
      b{two_machines::with_bus(bus_b.name, std::move(b_args))},
      liar{child_process::spawn("fake-directory", {"list=127.0.0.2:" + std::to_string(b.port)})},
      liar_port{read_port(liar)},
      a{bus_a.name, "server", "a", [this](test_config& c) {
          remote_on(c, {seed_of(b.port), seed_of(liar_port)});
        }} {
    REQUIRE_MESSAGE(wait_until([&] { return !a.node.remote().refused.empty(); },
                               std::chrono::seconds{10}),
                    "nothing refused");
    refused = a.node.remote().refused.front();
  }
  ~seen_twice() { liar.signal(SIGKILL); }

  /// B's ledger, looked up through B's directory: its answer to 1 (0 if
  /// none came).
  int32_t ledger_answer() {
    auto ledger = must_lookup(a.node, "ledger@" + bus_b.name);
    caf::scoped_actor self{*a.sys};
    int32_t answer = 0;
    self->request(ledger, std::chrono::seconds{5}, int32_t{1})
      .receive([&](int32_t x) { answer = x; }, [](caf::error&) {});
    return answer;
  }

  scoped_bus bus_a;
  scoped_bus bus_b;
  machine_child b;
  child_process liar;
  uint16_t liar_port;
  bus_process<test_config> a;
  std::string refused;
};

struct watch_report {
  int32_t exits = -1;
  std::string exit_reason;
  std::string down_reason;
};

/// Asks the watcher until its down_msg arrived (or the deadline passed).
watch_report await_down(caf::scoped_actor& self, const caf::actor& w,
                        std::chrono::milliseconds deadline) {
  watch_report r;
  wait_until(
    [&] {
      self->request(w, std::chrono::seconds{1}, report_atom::value)
        .receive(
          [&](int32_t exits, std::string& exit_reason, std::string& down_reason) {
            r = {exits, std::move(exit_reason), std::move(down_reason)};
          },
          [](caf::error&) {});
      return !r.down_reason.empty();
    },
    deadline);
  return r;
}

/// Uses `ledger` (an actor of another machine) the way every path must
/// allow: requests, order per sender, and a monitor and a link that see
/// its real exit reason once, after which requests fail. A handle that
/// came in a BASP message is BASP's own proxy: CAF 0.17.6 may deliver its
/// link's exit_msg twice (`exact_exits` false; README, "Several machines").
void check_full_use(bus_process<test_config>& a, const caf::actor& ledger,
                    bool exact_exits = true) {
  caf::scoped_actor self{*a.sys};
  int32_t answer = 0;
  self->request(ledger, std::chrono::seconds{5}, int32_t{41})
    .receive([&](int32_t x) { answer = x; },
             [&](caf::error& err) { FAIL("request: " << a.sys->render(err)); });
  CHECK(answer == 42);
  std::string expected;
  for (int32_t i = 0; i < 200; ++i) {
    self->send(ledger, append_atom::value, i);
    expected += std::to_string(i) + ",";
  }
  std::string log;
  self->request(ledger, std::chrono::seconds{5}, caf::get_atom::value)
    .receive([&](std::string& x) { log = std::move(x); },
             [&](caf::error& err) { FAIL("request: " << a.sys->render(err)); });
  CHECK(log == expected);
  auto w = a.sys->spawn(watcher, ledger);
  kill_on_scope_end end_w{w};
  // The link and the monitor are in place once the watcher answered.
  self->request(w, std::chrono::seconds{5}, report_atom::value).receive(
    [](int32_t, std::string&, std::string&) {}, [](caf::error&) {});
  self->send(ledger, quit_atom::value);
  auto r = await_down(self, w, std::chrono::seconds{10});
  CHECK(r.down_reason == a.sys->render(caf::exit_reason::user_shutdown));
  if (exact_exits)
    CHECK(r.exits == 1);
  else
    CHECK((r.exits == 1 || r.exits == 2));
  CHECK(r.exit_reason == a.sys->render(caf::exit_reason::user_shutdown));
  bool failed = false;
  self->request(ledger, std::chrono::seconds{5}, int32_t{1})
    .receive([](int32_t) {}, [&](caf::error&) { failed = true; });
  CHECK(failed);
}

/// The handle a keeper (of machine_child's fetch=) holds.
caf::actor kept_by(bus_process<test_config>& a, const caf::actor& keeper) {
  caf::scoped_actor self{*a.sys};
  caf::actor kept;
  self->request(keeper, std::chrono::seconds{5}, caf::get_atom::value)
    .receive([&](caf::actor& x) { kept = std::move(x); },
             [&](caf::error& err) { FAIL(a.sys->render(err)); });
  return kept;
}

/// Bytes a process wrote (all its write calls: here its sockets).
uint64_t written_by(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/io"};
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value)
    if (key == "wchar:")
      return value;
  return 0;
}

} // namespace

TEST_CASE("shmbus.remote options: heartbeats on by default, seeds validated") {
  scoped_bus bus{"remote-opts"};
  test_config cfg;
  const char* argv[] = {"x", "--shmbus.remote.enabled",
                        "--shmbus.remote.seeds=[\"127.0.0.1:4242\"]",
                        "--shmbus.remote.port=0"};
  auto parsed = cfg.parse(4, const_cast<char**>(argv));
  REQUIRE_MESSAGE(!parsed, to_string(parsed));
  CHECK(cfg.shmbus.remote);
  REQUIRE(cfg.shmbus.remote_seeds.size() == 1);
  CHECK(cfg.shmbus.remote_seeds[0] == "127.0.0.1:4242");
  cfg.shmbus.remote_seeds = {"nohost"};
  cfg.shmbus.bus = bus.name;
  auto err = cfg.shmbus.validate();
  REQUIRE(err);
  CHECK(contains(to_string(err), "shmbus.remote.seeds"));
  cfg.shmbus.remote_seeds = {};
  for (auto wildcard : {"0.0.0.0", "::"}) {
    cfg.shmbus.remote_advertise = wildcard;
    err = cfg.shmbus.validate();
    REQUIRE(err);
    CHECK(contains(to_string(err), "shmbus.remote.advertise"));
    CHECK(contains(to_string(err), "is a wildcard"));
  }
  bus_process<test_config> a{bus.name, "server", "a", [](test_config& c) { remote_on(c, {}); }};
  CHECK(caf::get_or(a.sys->config(), "middleman.heartbeat-interval", caf::timespan{0})
        == bus::bus_settings::default_remote_heartbeat_interval);
  CHECK(caf::get_or(a.sys->config(), "middleman.connection-timeout", caf::timespan{0})
        == bus::bus_settings::default_remote_connection_timeout);
  CHECK(a.node.remote().port != 0);
}

TEST_CASE("an actor of another machine, found by name, answers in order; its monitors and "
          "links see its real exit reason") {
  two_machines m{"remote", {"ledger"}};
  auto& a = m.a;
  auto& b = m.b;
  auto& bus_b = m.bus_b;
  CHECK(a.node.remote().machines == std::vector<std::string>{bus_b.name});
  auto missing = a.node.lookup("ledger@no-such-machine", caf::timespan{std::chrono::seconds{1}});
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == bus::errc::name_not_found);
  auto by_machine = a.node.lookup("ledger@" + bus_b.name, caf::timespan{std::chrono::seconds{5}});
  REQUIRE_MESSAGE(by_machine, a.sys->render(by_machine.error()));
  auto ledger = must_lookup(a.node, "ledger");
  CHECK(ledger == *by_machine);
  CHECK(pid_of(ledger.node()) == b.proc.pid());
  check_full_use(a, ledger);
}

TEST_CASE("a typed lookup of another machine's name checks the interface published there") {
  two_machines m{"remote-typed", {"calc", "ledger"}};
  auto& a = m.a;
  auto& bus_b = m.bus_b;
  caf::scoped_actor self{*a.sys};
  for (auto name : {std::string{"calc"}, "calc@" + bus_b.name}) {
    CAPTURE(name);
    auto calc = a.node.lookup<calc_actor>(name, caf::timespan{std::chrono::seconds{5}});
    REQUIRE_MESSAGE(calc, a.sys->render(calc.error()));
    int32_t sum = 0;
    self->request(*calc, std::chrono::seconds{5}, int32_t{3}, int32_t{4})
      .receive([&](int32_t x) { sum = x; },
               [&](caf::error& err) { FAIL_CHECK(a.sys->render(err)); });
    CHECK(sum == 7);
    auto wrong = a.node.lookup<text_actor>(name, caf::timespan{std::chrono::seconds{1}});
    REQUIRE_FALSE(wrong);
    CHECK_MESSAGE(wrong.error() == bus::errc::interface_mismatch, a.sys->render(wrong.error()));
  }
  // An untyped actor is no typed one, there as here.
  auto untyped = a.node.lookup<calc_actor>("ledger", caf::timespan{std::chrono::seconds{1}});
  REQUIRE_FALSE(untyped);
  CHECK_MESSAGE(untyped.error() == bus::errc::interface_mismatch,
                a.sys->render(untyped.error()));
}

TEST_CASE("an actor's lookup(self, ...) finds names of other machines, by name and by "
          "name@machine") {
  two_machines m{"remote-self", {"ledger"}};
  auto& a = m.a;
  auto& bus_b = m.bus_b;
  auto looker = a.sys->spawn(test::looker, a.node);
  exit_on_scope_end guard_looker{looker};
  caf::scoped_actor self{*a.sys};
  auto ask = [&](const std::string& name, caf::timespan timeout) {
    return child_lookup(self, looker, find_atom::value, name, timeout, std::chrono::seconds{15});
  };
  auto ledger = must_lookup(a.node, "ledger");
  for (auto name : {std::string{"ledger"}, "ledger@" + bus_b.name}) {
    CAPTURE(name);
    auto found = ask(name, caf::timespan{std::chrono::seconds{5}});
    REQUIRE_MESSAGE(found, a.sys->render(found.error()));
    CHECK(*found == ledger);
  }
  auto missing = ask("ledger@no-such-machine", caf::timespan{std::chrono::seconds{1}});
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == bus::errc::name_not_found);
  missing = ask("nobody", caf::timespan{std::chrono::milliseconds{300}});
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == bus::errc::name_not_found);
  // The found handle is the relay: it answers.
  bool answered = false;
  self->request(ledger, std::chrono::seconds{5}, caf::get_atom::value)
    .receive([&](const std::string&) { answered = true; }, [](caf::error&) {});
  CHECK(answered);
}

TEST_CASE("a handle of another machine's actor that arrives over the bus works as one from "
          "BASP") {
  scoped_bus bus_a{"remote-bus-a"};
  scoped_bus bus_b{"remote-bus-b"};
  machine_child b{{"bus=" + bus_b.name, "role=server", "ledger"}};
  bus_process<test_config> a{bus_a.name, "server", "a",
                             [&](test_config& c) { remote_on(c, {seed_of(b.port)}); }};
  // A second process of machine A fetched the ledger and hands it out over
  // the bus.
  machine_child a2{{"bus=" + bus_a.name, "role=client", "seed=" + seed_of(b.port),
                    "fetch=ledger", "connections=1"}};
  await_connections(a.node, 1);
  auto keeper = must_lookup(a.node, "keeper");
  CHECK(pid_of(keeper.node()) == a2.proc.pid());
  auto ledger = kept_by(a, keeper);
  REQUIRE(ledger);
  CHECK(pid_of(ledger.node()) == b.proc.pid());
  check_full_use(a, ledger);
}

TEST_CASE("a handle of another machine's actor that arrives over the bus before this process "
          "connected to that machine works once the connection is up") {
  scoped_bus bus_a{"remote-late-a"};
  scoped_bus bus_b{"remote-late-b"};
  auto b_port = free_tcp_port();
  // A's first round finds nothing at the seed (machine B starts later); its
  // next round comes after 60 s, unless a handle needs a connection sooner.
  bus_process<test_config> a{bus_a.name, "server", "a", [&](test_config& c) {
                               remote_on(c, {seed_of(b_port)});
                               c.shmbus.remote_refresh = std::chrono::seconds{60};
                             }};
  machine_child b{{"bus=" + bus_b.name, "role=server", "port=" + std::to_string(b_port),
                   "ledger"}};
  REQUIRE(b.port == b_port);
  machine_child a2{{"bus=" + bus_a.name, "role=client", "seed=" + seed_of(b_port),
                    "fetch=ledger", "connections=1"}};
  REQUIRE(a.node.remote().connections == 0);
  auto keeper = must_lookup(a.node, "keeper");
  auto ledger = kept_by(a, keeper);
  REQUIRE(ledger);
  CHECK(pid_of(ledger.node()) == b.proc.pid());
  check_full_use(a, ledger);
  CHECK(a.node.remote().connections == 1);
}

TEST_CASE("a handle of a machine this process cannot reach: what was sent to it fails, and its "
          "monitors fire, within twice remote.timeout") {
  scoped_bus bus_a{"remote-unreach-a"};
  scoped_bus bus_b{"remote-unreach-b"};
  machine_child b{{"bus=" + bus_b.name, "role=server", "ledger"}};
  // Machine A's server knows no other machine; its neighbour does.
  bus_process<test_config> a{bus_a.name, "server", "a", [&](test_config& c) {
                               remote_on(c, {});
                               c.shmbus.remote_timeout = std::chrono::milliseconds{500};
                             }};
  machine_child a2{{"bus=" + bus_a.name, "role=client", "seed=" + seed_of(b.port),
                    "fetch=ledger", "connections=1"}};
  auto keeper = must_lookup(a.node, "keeper");
  auto ledger = kept_by(a, keeper);
  REQUIRE(ledger);
  caf::scoped_actor self{*a.sys};
  auto start = std::chrono::steady_clock::now();
  self->monitor(ledger);
  auto pending = self->request(ledger, std::chrono::seconds{60}, int32_t{1});
  std::string down;
  CHECK(receive_within(self, std::chrono::seconds{10}, [&](caf::down_msg& x) {
    down = a.sys->render(x.reason);
  }));
  CHECK(down == a.sys->render(caf::exit_reason::remote_link_unreachable));
  std::string failed = "answered";
  std::move(pending).receive([](int32_t) {},
                             [&](caf::error& err) { failed = a.sys->render(err); });
  CHECK(failed == a.sys->render(caf::make_error(caf::sec::request_receiver_down)));
  CHECK(elapsed_ms(start) < 5000);
  CHECK(a.node.remote().connections == 0);
}

TEST_CASE("a handle of machine B's actor obtained through machine C works on machine A, "
          "which learned of B from C's directory") {
  scoped_bus bus_a{"remote-via-a"};
  scoped_bus bus_b{"remote-via-b"};
  scoped_bus bus_c{"remote-via-c"};
  machine_child b{{"bus=" + bus_b.name, "role=server", "ledger"}};
  machine_child c{{"bus=" + bus_c.name, "role=server", "seed=" + seed_of(b.port),
                   "fetch=ledger", "connections=1"}};
  bus_process<test_config> a{bus_a.name, "server", "a",
                             [&](test_config& cfg) { remote_on(cfg, {seed_of(c.port)}); }};
  await_connections(a.node, 2); // C's server, and B's, which C's directory names
  CHECK(a.node.remote().machines.size() == 2);
  auto keeper = a.node.lookup("keeper@" + bus_c.name, caf::timespan{std::chrono::seconds{5}});
  REQUIRE_MESSAGE(keeper, a.sys->render(keeper.error()));
  auto ledger = kept_by(a, *keeper);
  REQUIRE(ledger);
  CHECK(pid_of(ledger.node()) == b.proc.pid());
  check_full_use(a, ledger, false);
}

TEST_CASE("kill -9 of a process of another machine: its monitors fire and its pending "
          "requests fail") {
  two_machines m{"remote-kill", {"ledger"}};
  auto& a = m.a;
  auto& b = m.b;
  auto ledger = must_lookup(a.node, "ledger");
  caf::scoped_actor self{*a.sys};
  self->monitor(ledger);
  // The name is a relay: it fails the requests pending through it when the
  // connection is lost (CAF 0.17.6's BASP proxies would leave them to their
  // timeout, which is long here so that only the loss can fail them in time).
  auto hanging = self->request(ledger, std::chrono::seconds{60}, hang_atom::value);
  // The request is held once a later one got its answer (order per sender).
  self->request(ledger, std::chrono::seconds{5}, int32_t{1}).receive([](int32_t) {},
                                                                       [](caf::error&) {});
  b.proc.signal(SIGKILL);
  std::string down;
  CHECK(receive_within(self, std::chrono::seconds{10}, [&](caf::down_msg& x) {
    down = a.sys->render(x.reason);
  }));
  CHECK(down == a.sys->render(caf::exit_reason::remote_link_unreachable));
  std::string failed = "answered";
  std::move(hanging).receive([](caf::message&) {},
                             [&](caf::error& err) { failed = a.sys->render(err); });
  CHECK(failed == a.sys->render(caf::make_error(caf::sec::request_receiver_down)));
}

TEST_CASE("SIGSTOP of every process of a machine: every monitor fires, every pending request "
          "fails and no proxy stays alive") {
  scoped_bus bus_a{"remote-stop-a"};
  scoped_bus bus_b{"remote-stop-b"};
  machine_child b{{"bus=" + bus_b.name, "role=server", "ledger"}};
  machine_child b2{{"bus=" + bus_b.name, "role=client", "ledger=ledger2"}};
  bus_process<test_config> a{bus_a.name, "server", "a",
                             [&](test_config& c) { remote_on(c, {seed_of(b.port)}); }};
  await_connections(a.node, 2);
  auto l1 = must_lookup(a.node, "ledger");
  auto l2 = must_lookup(a.node, "ledger2");
  CHECK(pid_of(l2.node()) == b2.proc.pid());
  caf::scoped_actor self{*a.sys};
  self->monitor(l1);
  self->monitor(l2);
  // Failed by the relays at the loss, long before their timeout.
  auto h1 = self->request(l1, std::chrono::seconds{60}, hang_atom::value);
  auto h2 = self->request(l2, std::chrono::seconds{60}, hang_atom::value);
  for (auto& l : {l1, l2})
    self->request(l, std::chrono::seconds{5}, int32_t{1}).receive([](int32_t) {},
                                                                    [](caf::error&) {});
  b.proc.signal(SIGSTOP);
  b2.proc.signal(SIGSTOP);
  int downs = 0;
  for (int i = 0; i < 2; ++i)
    if (receive_within(self, std::chrono::seconds{10}, [&](caf::down_msg& x) {
          CHECK(x.reason == caf::exit_reason::remote_link_unreachable);
        }))
      ++downs;
  CHECK(downs == 2);
  auto receiver_down = a.sys->render(caf::make_error(caf::sec::request_receiver_down));
  for (auto* h : {&h1, &h2}) {
    std::string failed = "answered";
    std::move(*h).receive([](caf::message&) {},
                          [&](caf::error& err) { failed = a.sys->render(err); });
    CHECK(failed == receiver_down);
  }
  // BASP purged its proxies: a new send fails instead of waiting.
  bool refused = false;
  self->request(l1, std::chrono::seconds{5}, int32_t{1})
    .receive([](int32_t) {}, [&](caf::error&) { refused = true; });
  CHECK(refused);
}

TEST_CASE("a handle sent A -> B -> A leaves the connection at heartbeat traffic") {
  scoped_bus bus_a{"remote-loop-a"};
  scoped_bus bus_b{"remote-loop-b"};
  machine_child b{{"bus=" + bus_b.name, "role=server", "bouncer"}};
  bus_process<test_config> a{bus_a.name, "server", "a",
                             [&](test_config& c) { remote_on(c, {seed_of(b.port)}); }};
  machine_child a2{{"bus=" + bus_a.name, "role=client", "seed=" + seed_of(b.port), "ledger",
                    "connections=1"}};
  await_connections(a.node, 1);
  auto neighbour = must_lookup(a.node, "ledger"); // machine A's, over the bus
  CHECK(pid_of(neighbour.node()) == a2.proc.pid());
  auto bouncer = must_lookup(a.node, "bouncer@" + bus_b.name);
  caf::scoped_actor self{*a.sys};
  caf::actor back;
  self->request(bouncer, std::chrono::seconds{5}, neighbour)
    .receive([&](caf::actor& x) { back = std::move(x); },
             [&](caf::error& err) { FAIL(a.sys->render(err)); });
  REQUIRE(back);
  CHECK(back == neighbour);
  int32_t answer = 0;
  self->request(back, std::chrono::seconds{5}, int32_t{7})
    .receive([&](int32_t x) { answer = x; },
             [&](caf::error& err) { FAIL(a.sys->render(err)); });
  CHECK(answer == 8);
  // Heartbeats: a few dozen bytes per connection every 200 ms; a routing
  // loop writes megabytes per second.
  auto before = written_by(b.proc.pid());
  auto start = std::chrono::steady_clock::now();
  wait_until([&] { return elapsed_ms(start) >= 1000; }, std::chrono::seconds{2});
  auto per_second = (written_by(b.proc.pid()) - before) * 1000 / elapsed_ms(start);
  CHECK_MESSAGE(per_second < 64 * 1024, "machine B writes " << per_second << " bytes/s");
}

TEST_CASE("a node id seen twice is refused with a clear error") {
  scoped_bus bus_a{"remote-dup"};
  bus_process<test_config> a{bus_a.name, "server", "a", [](test_config& c) { remote_on(c, {}); }};
  // A process of machine A seeded with its own machine's server.
  auto child = child_process::spawn("machine", {"bus=" + bus_a.name, "role=client",
                                                "seed=" + seed_of(a.node.remote().port),
                                                "await-refusal"});
  auto port = child.read_line(std::chrono::seconds{10});
  REQUIRE(port);
  auto line = child.read_line(std::chrono::seconds{10});
  REQUIRE(line);
  CHECK_MESSAGE(contains(*line, "refused:"), *line);
  CHECK_MESSAGE(contains(*line, "node id"), *line);
  CHECK_MESSAGE(contains(*line, "this machine"), *line);
  CHECK(a.node.remote().connections == 0);
  child.signal(SIGKILL);
}

TEST_CASE("a node id seen at two endpoints is refused with a clear error") {
  // Machine B listens on every address: its server is 0.0.0.0:P in B's
  // directory and 127.0.0.2:P in the lying one's.
  seen_twice m{"remote-dup2", {"host=0.0.0.0", "ledger"}};
  auto port = std::to_string(m.b.port);
  CHECK_MESSAGE(contains(m.refused, "process at 127.0.0.2:" + port), m.refused);
  CHECK_MESSAGE(contains(m.refused, "seen before at 0.0.0.0:" + port), m.refused);
  CHECK_MESSAGE(contains(m.refused, "of machine '" + m.bus_b.name + "'"), m.refused);
  CHECK_MESSAGE(contains(m.refused, "two machines derived the same CAF node id"), m.refused);
  // The first connection stays, and serves (the count is published when
  // the round that refused ends).
  await_connections(m.a.node, 1);
  CHECK(m.a.node.remote().connections == 1);
  CHECK(m.ledger_answer() == 2);
}

TEST_CASE("a machine that listens on every address tells the others its advertised one") {
  // B listens on 0.0.0.0 and advertises 127.0.0.3 (loopback too, so that
  // A can reach it there): its directory must list 127.0.0.3:P.
  seen_twice m{"remote-adv", {"host=0.0.0.0", "advertise=127.0.0.3", "ledger"}};
  CHECK_MESSAGE(contains(m.refused, "seen before at 127.0.0.3:" + std::to_string(m.b.port)),
                m.refused);
  // The advertised endpoint serves.
  await_connections(m.a.node, 1);
  CHECK(m.ledger_answer() == 2);
}

TEST_CASE("a process with remote off is refused on a machine whose server has it on") {
  scoped_bus bus_a{"remote-off"};
  bus_process<test_config> a{bus_a.name, "server", "a", [](test_config& c) { remote_on(c, {}); }};
  auto child = child_process::spawn("machine", {"bus=" + bus_a.name, "role=client", "remote-off"});
  auto line = child.read_line(std::chrono::seconds{10});
  REQUIRE(line);
  CHECK_MESSAGE(contains(*line, "error: "), *line);
  CHECK_MESSAGE(contains(*line, "option shmbus.remote.enabled"), *line);
  CHECK_MESSAGE(contains(*line, "'" + bus_a.name + "' takes part in a cluster"), *line);
  auto status = child.wait(std::chrono::seconds{10});
  REQUIRE(status);
  CHECK_MESSAGE((status->exited && status->code == 3), status->to_string());
  // It left nothing behind: the bus has no other process.
  CHECK(wait_until([&] { return a.node.peers().empty(); }, std::chrono::seconds{5}));
}

// A plain CAF process posing as a machine's directory at its BASP port:
// answers that its machine ("liar") has the processes at list= (one
// endpoint). Prints "port N".
SHMBUS_CHILD_ROLE("fake-directory") {
  block_stop_signals();
  auto list = values_of(args, "list").at(0);
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  // The bus closes connections that send no heartbeats.
  cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds{200}});
  caf::actor_system sys{cfg};
  auto dir = sys.spawn([list] {
    return caf::behavior{[list](caf::get_atom) {
      return std::make_tuple(std::string{"liar"}, list, std::string{});
    }};
  });
  auto port = sys.middleman().publish(dir, 0, "127.0.0.1", true);
  if (!port) {
    say("error: " + sys.render(port.error()));
    return 3;
  }
  say("port " + std::to_string(*port));
  wait_for_stop_signal(std::chrono::seconds{60});
  caf::anon_send_exit(dir, caf::exit_reason::user_shutdown);
  return 0;
}

// A process of a machine: args bus=, role=, port= (its BASP port; default
// any), host= (its BASP address; default 127.0.0.1), "remote-off" (start
// with shmbus.remote.enabled false), seed= (any number), "ledger"
// (publish a ledger as "ledger") or ledger=NAME, "bouncer", "calc" (a typed
// calc_actor), fetch=NAME
// (look NAME up on any machine and publish a keeper of it), connections=N
// (be ready once N processes of other machines are connected),
// "await-refusal" (print the first refusal instead of "ready").
SHMBUS_CHILD_ROLE("machine") {
  block_stop_signals();
  auto bus = values_of(args, "bus").at(0);
  auto role = values_of(args, "role").at(0);
  auto seeds = values_of(args, "seed");
  auto port = values_of(args, "port");
  auto host = values_of(args, "host");
  auto advertise = values_of(args, "advertise");
  child_bus<test_config> p{bus, role, role + "-" + std::to_string(::getpid()),
                           [&](test_config& c) {
                             remote_on(c, seeds);
                             c.shmbus.remote = !has_flag(args, "remote-off");
                             if (!port.empty())
                               c.shmbus.remote_port = static_cast<uint16_t>(std::stoi(port[0]));
                             if (!host.empty())
                               c.shmbus.remote_host = host[0];
                             if (!advertise.empty())
                               c.shmbus.remote_advertise = advertise[0];
                           }};
  say("port " + std::to_string(p.node.remote().port));
  std::vector<caf::actor> actors;
  auto names = values_of(args, "ledger");
  if (has_flag(args, "ledger"))
    names.push_back("ledger");
  for (auto& name : names) {
    actors.push_back(p.sys->spawn(ledger));
    p.publish(actors.back(), name);
  }
  if (has_flag(args, "bouncer")) {
    actors.push_back(p.sys->spawn(bouncer));
    p.publish(actors.back(), "bouncer");
  }
  if (has_flag(args, "calc")) {
    auto calc = p.sys->spawn(adder);
    actors.push_back(caf::actor_cast<caf::actor>(calc));
    p.publish(calc, "calc");
  }
  auto wanted = values_of(args, "connections");
  size_t n = wanted.empty() ? 0 : std::stoul(wanted[0]);
  if (!wait_until([&] { return p.node.remote().connections >= n; }, std::chrono::seconds{10})) {
    say("error: " + std::to_string(p.node.remote().connections) + " connections");
    return 3;
  }
  for (auto& name : values_of(args, "fetch")) {
    auto x = p.node.lookup(name, caf::timespan{std::chrono::seconds{5}});
    if (!x) {
      say("error: " + p.sys->render(x.error()));
      return 3;
    }
    actors.push_back(p.sys->spawn(keeper, *x));
    p.publish(actors.back(), "keeper");
  }
  if (has_flag(args, "await-refusal")) {
    if (!wait_until([&] { return !p.node.remote().refused.empty(); }, std::chrono::seconds{10})) {
      say("error: nothing refused");
      return 3;
    }
    say("refused: " + p.node.remote().refused.front());
  } else {
    say("ready");
  }
  wait_for_stop_signal(std::chrono::seconds{60});
  for (auto& x : actors)
    caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
  return 0;
}
