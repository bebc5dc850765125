// A busy actor is not a hung process: with inline dispatch, one actor stuck
// in its handler on the bus's I/O thread holds up neither the other actors
// of its process nor its heartbeat (the standby I/O thread takes over the
// inbox). A process whose bus threads are all stuck is a hung process: its
// peers learn it after the heartbeat timeout and it is killed.
#include <doctest/doctest.h>

#include <future>
#include <mutex>
#include <thread>

#include "test_types.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

using stuck_atom = caf::atom_constant<caf::atom("stuck")>;

/// Taken by the main thread of bus-stuck-threads before its actors are
/// published, never released: handlers that lock it block for good.
std::mutex never_released;

/// On `stuck_atom`: says "stuck", stays in its handler for `how_long`,
/// says "unstuck" and answers. Doubles an int32_t.
caf::behavior sleeper(caf::event_based_actor*, std::chrono::milliseconds how_long) {
  return {
    [=](stuck_atom) {
      say("stuck");
      std::this_thread::sleep_for(how_long); // the busy handler under test
      say("unstuck");
      return int32_t{1};
    },
    [](int32_t x) { return x * 2; },
  };
}

/// On `stuck_atom`: says "blocked NAME" and blocks for good on
/// never_released. Doubles an int32_t.
caf::behavior blocker(caf::event_based_actor*, std::string name) {
  return {
    [=](stuck_atom) {
      say("blocked " + name);
      std::lock_guard<std::mutex> forever(never_released);
    },
    [](int32_t x) { return x * 2; },
  };
}

/// Asks `x` to double 21: once it answered, CAF has started the actor (its
/// first run goes to the scheduler), so what a remote message wakes it for
/// next runs on the bus's I/O thread.
void await_started(caf::scoped_actor& self, const caf::actor& x) {
  int32_t answer = 0;
  self->request(x, std::chrono::seconds{10}, int32_t{21})
    .receive([&](int32_t y) { answer = y; }, [](caf::error&) {});
  REQUIRE(answer == 42);
}

} // namespace

// args: bus. Publishes "busy" (a sleeper for 3 s) and "echo" (a doubler).
SHMBUS_CHILD_ROLE("bus-busy-actor") {
  child_bus<> p{args.at(0), "client", "busy"};
  auto busy = p.sys->spawn(sleeper, std::chrono::milliseconds{3000});
  auto echo = p.sys->spawn(doubler);
  p.publish(busy, "busy");
  p.publish(echo, "echo");
  say("ready");
  p.await_stop();
  caf::anon_send_exit(busy, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  return 0;
}

// args: bus. Publishes "a" and "b", blockers of never_released.
SHMBUS_CHILD_ROLE("bus-stuck-threads") {
  never_released.lock();
  child_bus<> p{args.at(0), "client", "stuck"};
  p.publish(p.sys->spawn(blocker, std::string{"a"}), "a");
  p.publish(p.sys->spawn(blocker, std::string{"b"}), "b");
  say("ready");
  p.await_stop();
  std::_Exit(0); // its actors never return; the test kills it anyway
}

TEST_CASE("an actor stuck in its handler holds up neither its process's other actors nor "
          "its heartbeat") {
  scoped_bus bus{"busy-actor"};
  // A timeout far shorter than the stuck handler: a stalled consumer would
  // get the process declared hung many times over.
  bus_process<test_config> server{bus.name, "server", "srv",
                                  [](test_config& cfg) { fast_heartbeats(cfg); }};
  auto child = child_process::spawn("bus-busy-actor", {bus.name});
  await_ready(child);
  auto busy = must_lookup(server.node, "busy");
  auto echo = must_lookup(server.node, "echo");
  caf::scoped_actor self{*server.sys};
  await_started(self, busy);
  await_started(self, echo);
  self->monitor(busy);
  self->monitor(echo);
  std::promise<caf::expected<int32_t>> busy_answer;
  auto busy_done = busy_answer.get_future();
  server.sys->spawn([&, busy](caf::event_based_actor* a) {
    a->request(busy, std::chrono::seconds{30}, stuck_atom::value)
      .then([&](int32_t x) { busy_answer.set_value(x); },
            [&](caf::error& err) { busy_answer.set_value(err); });
  });
  REQUIRE(child.expect_line("stuck", std::chrono::seconds{10}));
  // While "busy" sits in its handler, "echo" of the same process answers
  // every request, each within its own (short) timeout.
  int answered = 0;
  std::vector<std::string> failures;
  for (int32_t i = 1; i <= 20; ++i) {
    self->request(echo, std::chrono::seconds{1}, i)
      .receive([&](int32_t x) { answered += x == 2 * i ? 1 : 0; },
               [&](caf::error& err) { failures.push_back(server.sys->render(err)); });
  }
  CHECK_MESSAGE(failures.empty(), (failures.empty() ? "" : failures.front()));
  CHECK(answered == 20);
  // Still inside the handler all along: the answers did not wait for it.
  CHECK(busy_done.wait_for(std::chrono::seconds{0}) != std::future_status::ready);
  REQUIRE(child.expect_line("unstuck", std::chrono::seconds{10}));
  REQUIRE(busy_done.wait_for(std::chrono::seconds{10}) == std::future_status::ready);
  auto answer = busy_done.get();
  CHECK_MESSAGE(answer, server.sys->render(answer.error()));
  // Nobody declared the process hung: no down_msg, no loss, no kill.
  bool down = receive_within(self, std::chrono::milliseconds{200},
                             [](caf::down_msg&) {});
  CHECK_FALSE(down);
  CHECK_FALSE(server.node.loss_of(child.pid()));
  CHECK_FALSE(child.reaped());
  // The stuck thread came back as the standby; both actors still answer.
  self->request(busy, std::chrono::seconds{5}, int32_t{4})
    .receive([](int32_t x) { CHECK(x == 8); },
             [&](caf::error& err) { FAIL_CHECK(server.sys->render(err)); });
  self->request(echo, std::chrono::seconds{5}, int32_t{5})
    .receive([](int32_t x) { CHECK(x == 10); },
             [&](caf::error& err) { FAIL_CHECK(server.sys->render(err)); });
  stop_child(server.node, child);
}

TEST_CASE("a process whose bus threads are all stuck is reported after the heartbeat timeout "
          "and killed") {
  scoped_bus bus{"stuck-threads"};
  bus_process<test_config> server{bus.name, "server", "srv",
                                  [](test_config& cfg) { fast_heartbeats(cfg); }};
  auto child = child_process::spawn("bus-stuck-threads", {bus.name});
  await_ready(child);
  auto a = must_lookup(server.node, "a");
  auto b = must_lookup(server.node, "b");
  caf::scoped_actor self{*server.sys};
  await_started(self, a);
  await_started(self, b);
  self->monitor(a);
  self->monitor(b);
  // "a" blocks the I/O thread; the standby takes over, runs "b" and blocks too.
  self->send(a, stuck_atom::value);
  REQUIRE(child.expect_line("blocked a", std::chrono::seconds{10}));
  self->send(b, stuck_atom::value);
  REQUIRE(child.expect_line("blocked b", std::chrono::seconds{10}));
  auto blocked_at = std::chrono::steady_clock::now();
  int downs = 0;
  caf::error reason;
  while (downs < 2 && receive_within(self, std::chrono::seconds{10}, [&](caf::down_msg& dm) {
           ++downs;
           reason = dm.reason;
         })) {
  }
  auto took = elapsed_ms(blocked_at);
  CHECK(downs == 2);
  CHECK_MESSAGE(reason == caf::exit_reason::remote_link_unreachable, server.sys->render(reason));
  MESSAGE("the stuck process was reported after " << took << " ms");
  auto loss = server.node.loss_of(child.pid());
  REQUIRE(loss);
  CHECK_MESSAGE((loss->cause == transport::loss_cause::heartbeat_timeout
                 || loss->cause == transport::loss_cause::stalled),
                loss->text);
  auto status = child.wait(std::chrono::seconds{10});
  REQUIRE(status);
  CHECK(status->signaled);
  CHECK(status->signal == SIGKILL);
}
