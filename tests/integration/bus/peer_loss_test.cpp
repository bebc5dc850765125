// Losing a process: killed (kill -9) or hung (SIGSTOP) peers show up as
// down_msg/exit_msg with remote_link_unreachable and their pending requests
// fail at once; clients whose server is lost get the down messages and a
// server_lost stop reason, and keep running (the bus never exits its host;
// module programs exit, see the actors tests); a restarted process is a new
// incarnation that nothing addressed to the old one reaches.
#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <thread>

#include "test_types.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

struct worker_state {
  std::vector<caf::response_promise> never_answered;
  int32_t received = 0;
};

/// Counts what it gets; never answers `hang`.
caf::behavior worker_impl(caf::stateful_actor<worker_state>* self) {
  return {
    [=](hang_atom) {
      ++self->state.received;
      self->state.never_answered.push_back(self->make_response_promise());
      return self->state.never_answered.back();
    },
    [=](int32_t x) {
      ++self->state.received;
      return x * 2;
    },
    [=](caf::get_atom) { return self->state.received; },
  };
}

using report = std::pair<std::string, caf::error>;

/// A peer that is killed or stopped while this process monitors and links
/// its actor and has requests of all three forms pending at it.
void check_peer_loss(int signal) {
  scoped_bus bus{signal == SIGKILL ? "lost-killed" : "lost-hung"};
  bus_process<test_config> server{bus.name, "server", "srv",
                                  [](test_config& cfg) { fast_heartbeats(cfg); }};
  auto child = child_process::spawn("bus-victim", {bus.name, "v"});
  await_ready(child);
  auto worker = must_lookup(server.node, "v.worker");
  caf::scoped_actor self{*server.sys};
  auto reporter = caf::actor_cast<caf::actor>(self);
  self->monitor(worker);
  auto linker = server.sys->spawn([=](caf::event_based_actor* a) -> caf::behavior {
    a->set_exit_handler([=](caf::exit_msg& msg) {
      a->send(reporter, std::string{"exit"}, msg.reason);
      a->quit();
    });
    a->link_to(worker);
    return {[](int32_t) {}};
  });
  server.sys->spawn([=](caf::event_based_actor* a) {
    a->request(worker, 30s, hang_atom::value)
      .then([=] { a->send(reporter, std::string{"then answered"}, caf::error{}); },
            [=](caf::error& err) { a->send(reporter, std::string{"then"}, err); });
  });
  server.sys->spawn([=](caf::event_based_actor* a) -> caf::behavior {
    a->request(worker, 30s, hang_atom::value)
      .await([=] { a->send(reporter, std::string{"await answered"}, caf::error{}); },
             [=](caf::error& err) {
               a->send(reporter, std::string{"await"}, err);
               a->quit();
             });
    return {[](int32_t) {}};
  });
  std::promise<caf::error> received;
  auto receive_result = received.get_future();
  std::thread blocking{[&] {
    caf::scoped_actor blocked{*server.sys};
    blocked->request(worker, 30s, hang_atom::value)
      .receive([&] { received.set_value(caf::error{}); },
               [&](caf::error& err) { received.set_value(err); });
  }};
  // Every request has reached the worker: they are pending there.
  auto arrived = wait_until(
    [&] {
      int32_t n = 0;
      self->request(worker, 1s, caf::get_atom::value)
        .receive([&](int32_t x) { n = x; }, [](caf::error&) {});
      return n >= 3;
    },
    5s);
  if (!arrived)
    child.signal(SIGKILL); // let the blocked thread finish
  CHECK(arrived);
  auto start = std::chrono::steady_clock::now();
  child.signal(signal);
  std::map<std::string, caf::error> reports;
  caf::error down_reason;
  bool down = false;
  while (reports.size() < 3 || !down) {
    auto got = receive_within(
      self, 5s, [&](std::string& kind, caf::error& err) { reports[kind] = err; },
      [&](caf::down_msg& dm) {
        down = true;
        down_reason = dm.reason;
      });
    if (!got)
      break;
  }
  auto took = elapsed_ms(start);
  CHECK(receive_result.wait_for(5s) == std::future_status::ready);
  blocking.join(); // at the latest after the request's own 30 s
  auto blocked_error = receive_result.get();
  CHECK(down);
  CHECK_MESSAGE(down_reason == caf::exit_reason::remote_link_unreachable,
                server.sys->render(down_reason));
  CHECK(reports.count("exit") == 1);
  CHECK(reports["exit"] == caf::exit_reason::remote_link_unreachable);
  CHECK_MESSAGE(reports["then"] == caf::sec::request_receiver_down,
                server.sys->render(reports["then"]));
  CHECK_MESSAGE(reports["await"] == caf::sec::request_receiver_down,
                server.sys->render(reports["await"]));
  CHECK_MESSAGE(blocked_error == caf::sec::request_receiver_down,
                server.sys->render(blocked_error));
  // Far sooner than the requests' own 30 s timeout.
  CHECK(took < 3000);
  // Requests sent now fail at once too; plain sends are dropped.
  auto later = std::chrono::steady_clock::now();
  caf::error late_error;
  self->request(worker, 30s, int32_t{1})
    .receive([](int32_t) {}, [&](caf::error& err) { late_error = err; });
  CHECK(late_error == caf::sec::request_receiver_down);
  CHECK(elapsed_ms(later) < 1000);
  self->send(worker, int32_t{2});
  auto loss = server.node.loss_of(child.pid());
  REQUIRE(loss);
  CHECK_MESSAGE(loss->cause == (signal == SIGKILL ? transport::loss_cause::killed
                                                 : transport::loss_cause::heartbeat_timeout),
                loss->text);
  CHECK_MESSAGE(loss->text.find(signal == SIGKILL ? "killed by signal 9" : "no heartbeat")
                  != std::string::npos,
                loss->text);
  // Its names are gone with it.
  auto name = server.node.lookup("v.worker");
  REQUIRE_FALSE(name);
  CHECK(name.error() == bus::errc::name_not_found);
  auto status = child.wait(5s);
  REQUIRE(status);
  // A hung peer is killed by the node that declared it lost.
  CHECK(status->signaled);
  CHECK(status->signal == SIGKILL);
  caf::anon_send_exit(linker, caf::exit_reason::user_shutdown);
}

} // namespace

// args: bus, name. Publishes <name>.worker.
SHMBUS_CHILD_ROLE("bus-victim") {
  child_bus<> p{args.at(0), "client", args.at(1)};
  auto worker = p.sys->spawn(worker_impl);
  p.publish(worker, args.at(1) + ".worker");
  say("ready");
  p.await_stop();
  caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
  return 0;
}

// args: bus. The server of a bus with "srv.echo"; waits to be killed.
SHMBUS_CHILD_ROLE("bus-lost-server") {
  child_bus<> p{args.at(0), "server", "lost-server"};
  p.publish(p.sys->spawn([]() -> caf::behavior { return {[](int32_t x) { return x * 2; }}; }),
            "srv.echo");
  say("ready");
  p.await_stop();
  return 0;
}

// args: bus, on-server-lost value ("default": not set). Monitors
// "srv.echo" with an actor that prints "down <reason>", then waits in
// await_stop_request.
SHMBUS_CHILD_ROLE("bus-lost-client") {
  auto mode = args.at(1);
  child_bus<> p{args.at(0), "client", "lost-client", [&](test_config& cfg) {
                  if (mode != "default")
                    cfg.shmbus.on_server_lost = mode;
                }};
  auto echo = p.node.lookup("srv.echo", caf::timespan{std::chrono::seconds{5}});
  if (!echo) {
    say("error: " + p.sys->render(echo.error()));
    return 3;
  }
  auto watcher = p.sys->spawn([echo = *echo](caf::event_based_actor* a) -> caf::behavior {
    a->monitor(echo);
    a->set_down_handler(
      [=](caf::down_msg& dm) { say("down " + a->system().render(dm.reason)); });
    return {[](int32_t) {}};
  });
  auto local = p.sys->spawn([]() -> caf::behavior { return {[](int32_t x) { return x * 2; }}; });
  say("ready");
  auto why = p.node.await_stop_request(caf::timespan{std::chrono::seconds{10}});
  say("returned: " + why.text);
  caf::scoped_actor self{*p.sys};
  self->request(local, std::chrono::seconds{5}, int32_t{21})
    .receive([](int32_t x) { say("alive " + std::to_string(x)); },
             [&](caf::error& err) { say("local: " + p.sys->render(err)); });
  self->request(*echo, std::chrono::seconds{5}, int32_t{21})
    .receive([](int32_t x) { say("echo answered " + std::to_string(x)); },
             [&](caf::error& err) { say("echo: " + p.sys->render(err)); });
  caf::anon_send_exit(watcher, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
  return 0;
}

TEST_CASE("a killed peer's actors go down with remote_link_unreachable and its requests fail at once") {
  check_peer_loss(SIGKILL);
}

TEST_CASE("a hung peer's actors go down after the heartbeat timeout and its requests fail") {
  check_peer_loss(SIGSTOP);
}

TEST_CASE("a client whose server is lost gets the down messages and server_lost, and keeps running") {
  scoped_bus bus{"server-lost"};
  auto server = child_process::spawn("bus-lost-server", {bus.name});
  await_ready(server);
  std::string mode = "default";
  int signal = SIGKILL;
  SUBCASE("by default, server killed") {}
  SUBCASE("by default, server hung: seen after the heartbeat timeout") {
    signal = SIGSTOP;
  }
  SUBCASE("with on-server-lost=exit, which only run_module acts on") {
    mode = "exit";
  }
  auto client = child_process::spawn("bus-lost-client", {bus.name, mode});
  await_ready(client);
  server.signal(signal);
  std::vector<std::string> lines;
  std::string down;
  while (auto line = client.read_line(5s)) {
    // The down_msg is handled by an actor, in parallel to the main thread.
    if (line->rfind("down ", 0) == 0)
      down = *line;
    else
      lines.push_back(*line);
  }
  CHECK_MESSAGE(down.find("remote_link_unreachable") != std::string::npos, down);
  REQUIRE(lines.size() == 3);
  CHECK_MESSAGE(lines[0].rfind("returned: server lost: ", 0) == 0, lines[0]);
  CHECK(lines[1] == "alive 42");
  CHECK_MESSAGE(lines[2].find("request_receiver_down") != std::string::npos, lines[2]);
  auto status = client.wait(5s);
  REQUIRE(status);
  CHECK_MESSAGE((status->exited && status->code == 0), status->to_string());
}

TEST_CASE("a restarted peer is a new incarnation that nothing addressed to the old one reaches") {
  scoped_bus bus{"restart"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto first = child_process::spawn("bus-victim", {bus.name, "v"});
  await_ready(first);
  auto old_worker = must_lookup(server.node, "v.worker");
  caf::scoped_actor self{*server.sys};
  self->monitor(old_worker);
  first.signal(SIGKILL);
  REQUIRE(receive_within(self, 5s, [](caf::down_msg&) {}));
  REQUIRE(first.wait(5s));
  auto second = child_process::spawn("bus-victim", {bus.name, "v"});
  await_ready(second);
  auto new_worker = must_lookup(server.node, "v.worker");
  CHECK(pid_of(old_worker.node()) == first.pid());
  CHECK(pid_of(new_worker.node()) == second.pid());
  // Same code, same spawn order: only the incarnation tells them apart.
  CHECK(new_worker.id() == old_worker.id());
  auto start = std::chrono::steady_clock::now();
  caf::error err;
  self->request(old_worker, 30s, int32_t{1})
    .receive([](int32_t) {}, [&](caf::error& x) { err = x; });
  CHECK(err == caf::sec::request_receiver_down);
  CHECK(elapsed_ms(start) < 1000);
  for (int32_t i = 0; i < 10; ++i)
    self->send(old_worker, i);
  int32_t received = -1;
  self->request(new_worker, 5s, caf::get_atom::value)
    .receive([&](int32_t n) { received = n; },
             [&](caf::error& x) { FAIL_CHECK(server.sys->render(x)); });
  CHECK(received == 0);
  stop_child(server.node, second);
}

TEST_CASE("a process that leaves the bus is lost to its peers: its actors go down, requests fail") {
  scoped_bus bus{"peer-leaves"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("bus-peer", {bus.name, "b"});
  await_ready(child);
  auto echo = must_lookup(server.node, "b.echo");
  auto hole = must_lookup(server.node, "b.blackhole");
  caf::scoped_actor self{*server.sys};
  self->monitor(echo);
  auto reporter = caf::actor_cast<caf::actor>(self);
  server.sys->spawn([=](caf::event_based_actor* a) {
    a->request(hole, 30s, hang_atom::value)
      .then([=] { a->send(reporter, std::string{"answered"}, caf::error{}); },
            [=](caf::error& err) { a->send(reporter, std::string{"failed"}, err); });
  });
  CHECK(blackhole_holds(self, hole, 1, 5s));
  auto start = std::chrono::steady_clock::now();
  stop_child(server.node, child);
  caf::error down_reason;
  std::map<std::string, caf::error> reports;
  for (int i = 0; i < 2; ++i)
    CHECK(receive_within(
      self, 5s, [&](caf::down_msg& dm) { down_reason = dm.reason; },
      [&](std::string& kind, caf::error& err) { reports[kind] = err; }));
  CHECK(elapsed_ms(start) < 5000);
  CHECK_MESSAGE(down_reason == caf::exit_reason::remote_link_unreachable,
                server.sys->render(down_reason));
  REQUIRE(reports.count("failed") == 1);
  CHECK(reports["failed"] == caf::sec::request_receiver_down);
  auto loss = server.node.loss_of(child.pid());
  REQUIRE(loss);
  CHECK_MESSAGE(loss->cause == transport::loss_cause::left, loss->text);
}

TEST_CASE("a node that stops kills its proxies, fails its pending requests and refuses new work") {
  scoped_bus bus{"node-stops"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("bus-peer", {bus.name, "b"});
  await_ready(child);
  auto echo = must_lookup(server.node, "b.echo");
  auto hole = must_lookup(server.node, "b.blackhole");
  caf::scoped_actor self{*server.sys};
  self->monitor(echo);
  auto reporter = caf::actor_cast<caf::actor>(self);
  server.sys->spawn([=](caf::event_based_actor* a) {
    a->request(hole, 30s, hang_atom::value)
      .then([=] { a->send(reporter, std::string{"answered"}, caf::error{}); },
            [=](caf::error& err) { a->send(reporter, std::string{"failed"}, err); });
  });
  CHECK(blackhole_holds(self, hole, 1, 5s));
  server.node.stop();
  caf::error down_reason;
  std::map<std::string, caf::error> reports;
  for (int i = 0; i < 2; ++i)
    CHECK(receive_within(
      self, 5s, [&](caf::down_msg& dm) { down_reason = dm.reason; },
      [&](std::string& kind, caf::error& err) { reports[kind] = err; }));
  CHECK_MESSAGE(down_reason == caf::exit_reason::remote_link_unreachable,
                server.sys->render(down_reason));
  REQUIRE(reports.count("failed") == 1);
  CHECK(reports["failed"] == caf::sec::request_receiver_down);
  // Requests through old proxies fail at once; names are no longer served.
  caf::error late;
  self->request(echo, 30s, int32_t{1}).receive([](int32_t) {}, [&](caf::error& x) { late = x; });
  CHECK(late == caf::sec::request_receiver_down);
  auto local = server.sys->spawn([]() -> caf::behavior { return {[](int32_t x) { return x; }}; });
  exit_on_scope_end guard{local};
  auto published = server.node.publish(local, "after-stop");
  CHECK_MESSAGE(published == bus::errc::not_attached, server.sys->render(published));
  auto found = server.node.lookup("b.echo");
  REQUIRE_FALSE(found);
  CHECK_MESSAGE(found.error() == bus::errc::not_attached, server.sys->render(found.error()));
  // Its client lost its server: await_stop_request says so, and the
  // client ends on its own terms.
  auto line = child.read_line(5s);
  REQUIRE(line);
  CHECK_MESSAGE(line->rfind("stopping: server lost: ", 0) == 0, *line);
  auto status = child.wait(5s);
  REQUIRE(status);
  CHECK_MESSAGE((status->exited && status->code == 0), status->to_string());
}

