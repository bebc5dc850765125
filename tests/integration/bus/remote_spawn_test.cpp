// Remote spawn across processes: actors of types that another process
// registered with add_actor_type, spawned from here as plain and typed
// handles; each error (unknown type, bad arguments, wrong interface,
// process gone, timeout); the form for actors; and spawn requests with
// forged fields, which the target refuses, answers and reports without
// harm.
#include <doctest/doctest.h>

#include <csignal>
#include <set>
#include <thread>
#include <vector>

#include "forged_records.hpp"
#include "shmbus/bus/remote_spawn.hpp"
#include "shmbus/transport/node.hpp"
#include "test_types.hpp"
#include "text.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

calc_actor::behavior_type spawned_adder() {
  return {[](int32_t a, int32_t b) { return a + b; }};
}

/// Multiplies by `factor`; "pid" answers its process id.
caf::behavior multiplier(caf::event_based_actor*, int32_t factor) {
  return {
    [factor](int32_t x) { return x * factor; },
    [](const std::string&) { return static_cast<int32_t>(::getpid()); },
  };
}

/// An actor whose construction takes `ms` milliseconds: its factory blocks
/// whoever runs it (in a target process, CAF's spawn server on a worker).
class sluggish : public caf::event_based_actor {
public:
  sluggish(caf::actor_config& cfg, int32_t ms) : caf::event_based_actor(cfg) {
    std::this_thread::sleep_for(std::chrono::milliseconds{ms});
  }
  caf::behavior make_behavior() override {
    return {[](int32_t x) { return x; }};
  }
};

struct spawn_target_config : test_config {
  spawn_target_config() {
    add_actor_type("multiplier", multiplier);
    add_actor_type("adder", spawned_adder);
    add_actor_type<sluggish, const int32_t&>("sluggish");
  }
};

using counters_atom = caf::atom_constant<caf::atom("counters")>;

/// Remote spawn of `type` from this test's node into `pid`.
template <class Handle = caf::actor, class... Ts>
caf::expected<Handle> spawn_in(const bus::node& node, int pid, const std::string& type,
                               Ts&&... xs) {
  return bus::remote_spawn<Handle>(node, pid, type, std::forward<Ts>(xs)...);
}

/// `x`'s error and its text, for messages.
template <class T>
std::string error_text(caf::actor_system& sys, const caf::expected<T>& x) {
  return x ? std::string{"(no error)"} : sys.render(x.error());
}

/// A spawn target child's refused records and refused spawn requests.
std::pair<uint64_t, uint64_t> counters_of(caf::scoped_actor& self, const caf::actor& report) {
  std::pair<uint64_t, uint64_t> result{0, 0};
  self->request(report, std::chrono::seconds{5}, counters_atom::value)
    .receive([&](uint64_t records, uint64_t spawns) { result = {records, spawns}; },
             [&](caf::error& err) { FAIL_CHECK(self->system().render(err)); });
  return result;
}

/// A bus server in this process and a "spawn-target" child on it, asked to
/// stop at the end of the test.
template <class Config = test_config>
struct target_fixture {
  explicit target_fixture(const std::string& tag)
    : bus(tag),
      server(bus.name, "server", "srv"),
      child(child_process::spawn("spawn-target", {bus.name})),
      sys(*server.sys),
      node(server.node) {
    await_ready(child);
  }
  ~target_fixture() {
    stop_child(node, child);
  }
  scoped_bus bus;
  bus_process<Config> server;
  child_process child;
  caf::actor_system& sys;
  bus::node node;
};

/// The int32_t that `x` answers to `xs`, or 0 (and a failed check).
template <class Handle, class... Ts>
int32_t ask_int(caf::scoped_actor& self, const Handle& x, Ts... xs) {
  int32_t result = 0;
  self->request(x, std::chrono::seconds{5}, xs...)
    .receive([&](int32_t y) { result = y; },
             [&](caf::error& err) { FAIL_CHECK(self->system().render(err)); });
  return result;
}

} // namespace

// args: bus. Registers the actor types "multiplier" (int32_t factor),
// "adder" (typed calc_actor) and "sluggish" (int32_t ms to construct);
// publishes "report", which answers counters_atom with its node's
// (rejected_records, refused_spawn_requests).
SHMBUS_CHILD_ROLE("spawn-target") {
  child_bus<spawn_target_config> p{args.at(0), "client", "target"};
  auto node = p.node;
  p.publish(p.sys->spawn([node]() -> caf::behavior {
              return {[node](counters_atom) {
                return caf::make_message(node.rejected_records(), node.refused_spawn_requests());
              }};
            }),
            "report");
  say("ready");
  p.await_stop();
  return 0;
}

TEST_CASE("a remote-spawned actor lives in the target process and answers like a local one") {
  target_fixture<> f{"rspawn-plain"};
  auto x = spawn_in(f.node, f.child.pid(), "multiplier", int32_t{3}, 5s);
  REQUIRE_MESSAGE(x, error_text(f.sys, x));
  CHECK(pid_of(x->node()) == f.child.pid());
  caf::scoped_actor self{f.sys};
  CHECK(ask_int(self, *x, int32_t{14}) == 42);
  CHECK(ask_int(self, *x, std::string{"pid"}) == f.child.pid());
  // Monitored like any remote actor: its own exit reason comes back.
  self->monitor(*x);
  self->send_exit(*x, caf::exit_reason::user_shutdown);
  caf::error reason;
  CHECK(receive_within(self, 5000ms, [&](caf::down_msg& dm) { reason = dm.reason; }));
  CHECK(reason == caf::exit_reason::user_shutdown);
  // The arguments may come as one message too.
  auto y = spawn_in(f.node, f.child.pid(), "multiplier", caf::make_message(int32_t{5}), 5s);
  REQUIRE_MESSAGE(y, error_text(f.sys, y));
  CHECK(ask_int(self, *y, int32_t{5}) == 25);
  self->send_exit(*y, caf::exit_reason::user_shutdown);
}

TEST_CASE("a typed remote spawn checks the interface of the spawned type") {
  target_fixture<> f{"rspawn-typed"};
  auto pid = f.child.pid();
  auto calc = spawn_in<calc_actor>(f.node, pid, "adder", 5s);
  REQUIRE_MESSAGE(calc, error_text(f.sys, calc));
  caf::scoped_actor self{f.sys};
  CHECK(ask_int(self, *calc, int32_t{40}, int32_t{2}) == 42);
  self->send_exit(*calc, caf::exit_reason::user_shutdown);
  auto check_mismatch = [&](auto wrong) {
    REQUIRE_FALSE(wrong);
    CHECK_MESSAGE(wrong.error() == caf::sec::unexpected_actor_messaging_interface,
                  error_text(f.sys, wrong));
  };
  SUBCASE("another typed interface") {
    auto wrong = spawn_in<text_actor>(f.node, pid, "adder", 5s);
    check_mismatch(wrong);
    CHECK(contains(error_text(f.sys, wrong), "adder"));
  }
  SUBCASE("an untyped handle for a typed actor type") {
    check_mismatch(spawn_in(f.node, pid, "adder", 5s));
  }
  SUBCASE("a typed handle for an untyped actor type") {
    check_mismatch(spawn_in<calc_actor>(f.node, pid, "multiplier", int32_t{2}, 5s));
  }
}

TEST_CASE("remote spawn names unknown types and bad arguments in its errors") {
  target_fixture<sender_config> f{"rspawn-errors"};
  auto& sys = f.sys;
  auto& server = f.server;
  auto& child = f.child;
  {
    auto x = spawn_in(server.node, child.pid(), "no-such-type", int32_t{1}, 5s);
    REQUIRE_FALSE(x);
    CHECK_MESSAGE(x.error() == caf::sec::unknown_type, error_text(sys, x));
    CHECK(contains(error_text(sys, x), "no-such-type"));
    CHECK(contains(error_text(sys, x), "add_actor_type"));
  }
  {
    auto x = spawn_in(server.node, child.pid(), "multiplier", std::string{"three"}, 5s);
    REQUIRE_FALSE(x);
    CHECK_MESSAGE(x.error() == caf::sec::cannot_spawn_actor_from_arguments, error_text(sys, x));
    CHECK(contains(error_text(sys, x), "multiplier"));
  }
  {
    auto x = spawn_in(server.node, child.pid(), "multiplier", 5s);
    REQUIRE_FALSE(x);
    CHECK_MESSAGE(x.error() == caf::sec::cannot_spawn_actor_from_arguments, error_text(sys, x));
  }
  {
    // An argument type the target cannot read: refused on arrival.
    auto x = spawn_in(server.node, child.pid(), "multiplier", sender_only_thing{3}, 5s);
    REQUIRE_FALSE(x);
    CHECK_MESSAGE((x.error() == bus::errc::unregistered_type
                   || x.error() == bus::errc::deserialization_failed),
                  error_text(sys, x));
  }
  {
    // One the sender cannot write: refused before it leaves.
    auto x = spawn_in(server.node, child.pid(), "multiplier", unregistered_thing{3}, 5s);
    REQUIRE_FALSE(x);
    CHECK_MESSAGE(x.error() == bus::errc::unregistered_type, error_text(sys, x));
  }
  {
    auto x = spawn_in(server.node, child.pid(), std::string(300, 'a'), 5s);
    REQUIRE_FALSE(x);
    CHECK_MESSAGE(x.error() == caf::sec::invalid_argument, error_text(sys, x));
  }
  // Still serving.
  auto ok = spawn_in(server.node, child.pid(), "multiplier", int32_t{2}, 5s);
  CHECK_MESSAGE(ok, error_text(sys, ok));
  caf::scoped_actor self{sys};
  if (ok)
    self->send_exit(*ok, caf::exit_reason::user_shutdown);
}

TEST_CASE("remote spawn into a process that is gone fails with peer_lost and says how it left") {
  scoped_bus bus{"rspawn-gone"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  SUBCASE("a pid that was never on the bus") {
    auto x = spawn_in(server.node, 999999, "multiplier", int32_t{2}, 2s);
    REQUIRE_FALSE(x);
    CHECK_MESSAGE(x.error() == bus::errc::peer_lost, error_text(*server.sys, x));
    CHECK(contains(error_text(*server.sys, x), "999999"));
  }
  SUBCASE("a process killed with SIGKILL") {
    auto child = child_process::spawn("spawn-target", {bus.name});
    await_ready(child);
    auto pid = child.pid();
    ::kill(pid, SIGKILL);
    REQUIRE(child.wait(10s));
    REQUIRE(wait_until([&] { return server.node.loss_of(pid).has_value(); }, 5000ms));
    auto x = spawn_in(server.node, pid, "multiplier", int32_t{2}, 2s);
    REQUIRE_FALSE(x);
    CHECK_MESSAGE(x.error() == bus::errc::peer_lost, error_text(*server.sys, x));
    CHECK(contains(error_text(*server.sys, x), std::to_string(pid)));
  }
}

TEST_CASE("remote spawn times out while the target's factory blocks, and the target keeps serving") {
  target_fixture<> f{"rspawn-timeout"};
  auto& server = f.server;
  auto& child = f.child;
  auto report = must_lookup(server.node, "report");
  auto slow = spawn_in(server.node, child.pid(), "sluggish", int32_t{1500}, 300ms);
  REQUIRE_FALSE(slow);
  CHECK_MESSAGE(slow.error() == caf::sec::request_timeout, error_text(*server.sys, slow));
  CHECK(contains(error_text(*server.sys, slow), "sluggish"));
  // The factory blocks a worker of the target, not its bus: the target
  // still answers requests over the bus meanwhile.
  caf::scoped_actor self{*server.sys};
  auto counters = counters_of(self, report);
  CHECK(counters.first == 0);
}

TEST_CASE("an actor remote-spawns without blocking and gets the handle or the error") {
  target_fixture<> f{"rspawn-async"};
  auto& server = f.server;
  auto& child = f.child;
  auto node = server.node;
  auto pid = child.pid();
  using go_atom = caf::atom_constant<caf::atom("go")>;
  auto spawner = server.sys->spawn([node, pid](caf::event_based_actor* self) -> caf::behavior {
    return {[=](go_atom, const std::string& type) {
      auto rp = self->make_response_promise<std::string>();
      bus::remote_spawn<calc_actor>(
        self, node, pid, type, caf::message{}, caf::timespan{5s},
        [=](caf::expected<calc_actor> x) mutable {
          if (!x) {
            rp.deliver(self->system().render(x.error()));
            return;
          }
          self->request(*x, std::chrono::seconds{5}, int32_t{1}, int32_t{2})
            .then([=](int32_t sum) mutable { rp.deliver("sum " + std::to_string(sum)); },
                  [=](caf::error& err) mutable { rp.deliver(self->system().render(err)); });
          self->send_exit(*x, caf::exit_reason::user_shutdown);
        });
      return rp;
    }};
  });
  exit_on_scope_end guard{spawner};
  caf::scoped_actor self{*server.sys};
  std::string good, bad;
  self->request(spawner, 10s, go_atom::value, std::string{"adder"})
    .receive([&](std::string& x) { good = x; }, [&](caf::error& err) { good = text(*server.sys, err); });
  self->request(spawner, 10s, go_atom::value, std::string{"nothing-here"})
    .receive([&](std::string& x) { bad = x; }, [&](caf::error& err) { bad = text(*server.sys, err); });
  CHECK(good == "sum 3");
  CHECK_MESSAGE(contains(bad, "nothing-here"), bad);
  CHECK_MESSAGE(contains(bad, "unknown_type"), bad);
}

TEST_CASE("forged spawn requests and exits for the spawn service are refused and reported, and the target keeps spawning") {
  using forge::operator+;
  target_fixture<> f{"rspawn-forged"};
  auto& server = f.server;
  auto& child = f.child;
  auto report = must_lookup(server.node, "report");
  caf::scoped_actor self{*server.sys};
  auto before = counters_of(self, report);
  // Honest framing, hostile fields: sent to the target's spawn service as
  // any process of the bus could.
  auto service = bus::remote_spawner::service_of(server.node, child.pid());
  REQUIRE(service);
  std::vector<std::string> answers;
  auto ask = [&](auto... xs) {
    self->request(*service, 5s, xs...)
      .receive([&](caf::strong_actor_ptr&) { answers.push_back("an actor?!"); },
               [&](caf::error& err) { answers.push_back(text(*server.sys, err)); });
  };
  std::string garbage(4000, '\0');
  for (size_t i = 0; i < garbage.size(); ++i)
    garbage[i] = static_cast<char>(i * 7 + 1);
  ask(caf::spawn_atom::value, garbage, caf::message{}, std::set<std::string>{});
  ask(caf::spawn_atom::value, std::string(1000, 'x'), caf::message{}, std::set<std::string>{});
  std::set<std::string> huge_interface;
  for (int i = 0; i < 2000; ++i)
    huge_interface.insert("sig" + std::to_string(i));
  ask(caf::spawn_atom::value, std::string{"multiplier"}, caf::make_message(int32_t{2}),
      huge_interface);
  ask(int32_t{42}); // not a spawn request at all
  CHECK(contains(answers.back(), "not a spawn request"));
  REQUIRE(answers.size() == 4);
  for (auto& x : answers)
    CHECK_MESSAGE(contains(x, "refused"), x);
  for (auto& x : answers)
    CHECK_MESSAGE(contains(x, "target"), x);
  CHECK(contains(answers[0], "byte"));
  CHECK(contains(answers[1], "1000 bytes"));
  CHECK(contains(answers[2], "2000 signatures"));
  // A record whose type name claims 2^32-1 bytes: refused by the bus's
  // reader before the service sees it.
  auto& transport = server.node.transport_node();
  std::pair<uint32_t, uint32_t> to{0, 0};
  for (auto& peer : transport.peers())
    if (peer.pid == child.pid())
      to = {peer.slot, peer.incarnation};
  REQUIRE(to.second != 0);
  forge::bytes content = forge::object_header(*server.sys, "@<>+@atom+@str+@message+@strset");
  {
    caf::binary_serializer sink{*server.sys, content};
    auto atom = caf::spawn_atom::value;
    caf::atom_value value = atom;
    sink(value);
    size_t n = 0xffffffff;
    sink.begin_sequence(n);
  }
  content = content + forge::bytes(64, 'z');
  auto rec = forge::message_head(bus::remote_spawner::service_id,
                                 forge::normal_category | 77)
             + content;
  auto err = transport.send(to.first, to.second, rec.data(), rec.size(), 1s);
  REQUIRE_MESSAGE(!err, err.message);
  auto after = before;
  CHECK(wait_until(
    [&] {
      after = counters_of(self, report);
      return after.first > before.first;
    },
    5000ms));
  CHECK(after.first == before.first + 1);
  CHECK(after.second == before.second + 4);
  // An exit for the service (kill cannot be trapped): refused on arrival.
  self->send_exit(*service, caf::exit_reason::kill);
  CHECK(wait_until(
    [&] {
      after = counters_of(self, report);
      return after.first > before.first + 1;
    },
    5000ms));
  CHECK(after.first == before.first + 2);
  // The target still spawns.
  auto ok = spawn_in(server.node, child.pid(), "multiplier", int32_t{2}, 5s);
  CHECK_MESSAGE(ok, error_text(*server.sys, ok));
  if (ok)
    self->send_exit(*ok, caf::exit_reason::user_shutdown);
}

TEST_CASE("an exit sent from a process's second actor system stops a remote-spawned actor") {
  // CAF numbers the actor systems of a process in the last byte of its
  // host id: the bus must still see this process as one of this machine
  // (a supervisor stopping its remote child sends such an exit).
  {
    test_config cfg;
    caf::actor_system first{cfg};
  }
  target_fixture<> f{"rspawn-second"};
  auto& server = f.server;
  auto& child = f.child;
  auto x = spawn_in(server.node, child.pid(), "multiplier", int32_t{3}, 5s);
  REQUIRE_MESSAGE(x, error_text(*server.sys, x));
  caf::scoped_actor self{*server.sys};
  self->monitor(*x);
  self->send_exit(*x, caf::exit_reason::user_shutdown);
  caf::error reason;
  CHECK(receive_within(self, 5000ms, [&](caf::down_msg& dm) { reason = dm.reason; }));
  CHECK_MESSAGE(reason == caf::exit_reason::user_shutdown, text(*server.sys, reason));
}
