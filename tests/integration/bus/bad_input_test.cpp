// Bad input gives a clear error, never a crash, a hang or a silent drop:
// unregistered types on either side, messages over max-message-size, full
// inboxes, invalid bus names, a second server, corrupt inbox records. And
// shmbus errors are matched and rendered the CAF way.
#include <doctest/doctest.h>

#include <algorithm>
#include <limits>

#include <unistd.h>

#include "shmbus/transport/error_log.hpp"
#include "shmbus/transport/node.hpp"
#include "shmbus/transport/segment.hpp"

#include "test_types.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

/// Doubles an int32_t, measures a string, reads a payload's seq.
caf::behavior multi_doubler() {
  return {
    [](int32_t x) { return x * 2; },
    [](const std::string& x) { return static_cast<int32_t>(x.size()); },
    [](payload p) { return p.seq; },
  };
}

/// The error answer of a request that must fail (or a failed check).
template <class... Ts>
caf::error request_error(caf::scoped_actor& self, const caf::actor& dest, Ts&&... xs) {
  caf::error result;
  self->request(dest, 5s, std::forward<Ts>(xs)...)
    .receive([&](caf::message&) { FAIL_CHECK("the request was answered"); },
             [&](caf::error& err) { result = err; });
  return result;
}

/// The answer of a request that must succeed (or -1 and a failed check).
int32_t request_int(caf::scoped_actor& self, const caf::actor& dest, int32_t x) {
  int32_t result = -1;
  self->request(dest, 5s, x).receive([&](int32_t y) { result = y; },
                                     [&](caf::error& err) {
                                       FAIL_CHECK(self->system().render(err));
                                     });
  return result;
}

/// Reads lines until `last`; returns the lines before it.
std::vector<std::string> lines_until(child_process& child, const std::string& last) {
  std::vector<std::string> result;
  for (;;) {
    auto line = child.read_line(5s);
    REQUIRE_MESSAGE(line, "no line '" << last << "' within 5 s");
    if (*line == last)
      return result;
    result.push_back(*line);
  }
}

size_t count_containing(const std::vector<std::string>& lines, const std::string& what) {
  size_t n = 0;
  for (auto& line : lines)
    if (line.find(what) != std::string::npos)
      ++n;
  return n;
}

} // namespace

// args: bus. Its log (stderr) goes to stdout. Sends an unregistered type
// twice to "target" with plain sends, then prints how many messages were
// not delivered.
SHMBUS_CHILD_ROLE("bus-bad-sender") {
  ::dup2(STDOUT_FILENO, STDERR_FILENO);
  child_bus<> p{args.at(0), "client", "bad-sender"};
  auto target = p.node.lookup("target");
  if (!target) {
    say("error: " + p.sys->render(target.error()));
    return 3;
  }
  {
    caf::scoped_actor self{*p.sys};
    self->send(*target, unregistered_thing{1});
    self->send(*target, unregistered_thing{2});
  }
  say("undelivered " + std::to_string(p.node.undelivered()));
  say("done");
  return 0;
}

// args: bus, size. Sends a string of `size` bytes to "target" in a request
// and prints "answer <n>" or "error <errc code> <text>".
SHMBUS_CHILD_ROLE("bus-big-sender") {
  child_bus<> p{args.at(0), "client", "big-sender"};
  say("max-message-size " + std::to_string(p.node.settings().max_message_size));
  auto target = p.node.lookup("target");
  if (!target) {
    say("error: " + p.sys->render(target.error()));
    return 3;
  }
  caf::scoped_actor self{*p.sys};
  self->request(*target, std::chrono::seconds{5}, std::string(std::stoul(args.at(1)), 'b'))
    .receive([](int32_t n) { say("answer " + std::to_string(n)); },
             [&](caf::error& err) {
               say("error " + std::to_string(err.code()) + " " + p.sys->render(err));
             });
  return 0;
}

// args: bus. Publishes "echo"; its log (stderr) goes to stdout; prints
// "logged" when asked with a string (a marker after earlier log lines).
SHMBUS_CHILD_ROLE("bus-logging-peer") {
  ::dup2(STDOUT_FILENO, STDERR_FILENO);
  child_bus<> p{args.at(0), "client", "logging-peer"};
  p.publish(p.sys->spawn([]() -> caf::behavior {
              return {
                [](int32_t x) { return x * 2; },
                [](const std::string& marker) {
                  say(marker);
                  return int32_t{0};
                },
              };
            }),
            "echo");
  say("ready");
  p.await_stop();
  return 0;
}

// args: bus. Tries to start a second server; prints "started" or
// "refused <code> <text>".
SHMBUS_CHILD_ROLE("bus-second-server") {
  test_config cfg;
  configure(cfg, args.at(0), "server", "second");
  caf::actor_system sys{cfg};
  auto started = bus::node::start(sys);
  if (started) {
    say("started");
    return 0;
  }
  say("refused " + std::to_string(started.error().code()) + " " + sys.render(started.error()));
  return 0;
}

TEST_CASE("a request with an unregistered type is answered with unregistered_type naming the type") {
  scoped_bus bus{"unregistered-request"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("bus-peer", {bus.name, "b"});
  await_ready(child);
  auto echo = must_lookup(server.node, "b.echo");
  caf::scoped_actor self{*server.sys};
  auto before = server.node.undelivered();
  auto err = request_error(self, echo, unregistered_thing{7});
  CHECK(err.category() == caf::atom("shmbus"));
  CHECK(err == bus::errc::unregistered_type);
  auto text = server.sys->render(err);
  CHECK_MESSAGE(text.find("unregistered_thing") != std::string::npos, text);
  CHECK(server.node.undelivered() == before + 1);
  // The receiver is untouched and still answers.
  CHECK(request_int(self, echo, 21) == 42);
  stop_child(server.node, child);
}

TEST_CASE("a plain send with an unregistered type is counted as undelivered and logged once") {
  scoped_bus bus{"unregistered-send"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto target = server.sys->spawn(multi_doubler);
  exit_on_scope_end guard{target};
  REQUIRE_FALSE(server.node.publish(target, "target"));
  auto child = child_process::spawn("bus-bad-sender", {bus.name});
  auto lines = lines_until(child, "done");
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.back() == "undelivered 2");
  CHECK(count_containing(lines, "was not delivered") == 1);
  CHECK(count_containing(lines, "unregistered_thing") >= 1);
  auto status = child.wait(5s);
  REQUIRE(status);
  CHECK_MESSAGE((status->exited && status->code == 0), status->to_string());
  // Logged once, counted twice: the bus's error log keeps both, after the
  // sender left.
  auto errors = transport::error_log{server.node.transport_node().shared_segment()}.list();
  auto it = std::find_if(errors.begin(), errors.end(), [](auto& e) {
    return e.text.find("was not delivered") != std::string::npos;
  });
  REQUIRE_MESSAGE(it != errors.end(), "no error log entry for the undelivered sends");
  CHECK_EQ(it->count, 2u);
  CHECK_EQ(it->node, "bad-sender");
  CHECK(it->first_unix_ns <= it->last_unix_ns);
}

TEST_CASE("a message over max-message-size is refused with message_too_large") {
  scoped_bus bus{"too-large"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("bus-peer", {bus.name, "b"});
  await_ready(child);
  auto echo = must_lookup(server.node, "b.echo");
  caf::scoped_actor self{*server.sys};
  auto before = server.node.undelivered();
  std::string big(server.node.settings().max_message_size + 1, 'x');
  auto err = request_error(self, echo, big);
  CHECK(err == bus::errc::message_too_large);
  auto text = server.sys->render(err);
  CHECK_MESSAGE(text.find("max-message-size") != std::string::npos, text);
  self->send(echo, big);
  CHECK(server.node.undelivered() == before + 2);
  // A message just under the limit still goes through.
  payload fits{5, std::string(server.node.settings().max_message_size / 2, 'y')};
  int32_t seq = -1;
  self->request(echo, 5s, fits).receive([&](payload& p) { seq = p.seq; },
                                       [&](caf::error& e) {
                                         FAIL_CHECK(server.sys->render(e));
                                       });
  CHECK(seq == 6);
  stop_child(server.node, child);
}

TEST_CASE("a client keeps to the bus's max-message-size, not to its own default") {
  scoped_bus bus{"bus-limit"};
  bus_process<test_config> server{bus.name, "server", "srv", [](test_config& cfg) {
                                    cfg.shmbus.max_message_size = 256 * 1024;
                                  }};
  auto target = server.sys->spawn(multi_doubler);
  exit_on_scope_end guard{target};
  REQUIRE_FALSE(server.node.publish(target, "target"));
  SUBCASE("larger than the client's default, within the bus's limit") {
    auto child = child_process::spawn("bus-big-sender", {bus.name, "100000"});
    CHECK(child.read_line(10s) == std::optional<std::string>{"max-message-size 262144"});
    CHECK(child.read_line(10s) == std::optional<std::string>{"answer 100000"});
    CHECK(child.wait(5s));
  }
  SUBCASE("larger than the bus's limit") {
    auto child = child_process::spawn("bus-big-sender", {bus.name, "300000"});
    CHECK(child.read_line(10s) == std::optional<std::string>{"max-message-size 262144"});
    auto line = child.read_line(10s);
    REQUIRE(line);
    auto expected = "error " + std::to_string(static_cast<int>(bus::errc::message_too_large));
    CHECK_MESSAGE(line->rfind(expected, 0) == 0, *line);
    CHECK(child.wait(5s));
  }
}

TEST_CASE("a message with an infinite or NaN floating-point value is refused, not sent") {
  // CAF 0.17.6's binary serializer loops forever on infinity.
  scoped_bus bus{"not-finite"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("bus-peer", {bus.name, "b"});
  await_ready(child);
  auto echo = must_lookup(server.node, "b.echo");
  caf::scoped_actor self{*server.sys};
  for (double x : {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                   std::numeric_limits<double>::quiet_NaN()}) {
    auto err = request_error(self, echo, int32_t{1}, x);
    auto text = server.sys->render(err);
    CHECK_MESSAGE(text.find("infinite or NaN") != std::string::npos, text);
  }
  CHECK(request_int(self, echo, 21) == 42);
  stop_child(server.node, child);
}

TEST_CASE("an answer that cannot be sent reaches the requester as an error, not as a timeout") {
  scoped_bus bus{"bad-answer"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("bus-peer", {bus.name, "b"});
  await_ready(child);
  auto echo = must_lookup(server.node, "b.echo");
  caf::scoped_actor self{*server.sys};
  SUBCASE("too large") {
    auto size = static_cast<int32_t>(server.node.settings().max_message_size) + 1;
    auto err = request_error(self, echo, caf::get_atom::value, size);
    CHECK_MESSAGE(err == bus::errc::message_too_large, server.sys->render(err));
  }
  SUBCASE("of an unregistered type") {
    auto err = request_error(self, echo, caf::get_atom::value, std::string{"unregistered"});
    CHECK_MESSAGE(err == bus::errc::unregistered_type, server.sys->render(err));
    auto text = server.sys->render(err);
    CHECK_MESSAGE(text.find("unregistered_thing") != std::string::npos, text);
  }
  CHECK(request_int(self, echo, 21) == 42);
  stop_child(server.node, child);
}

TEST_CASE("a message whose type the receiver has not registered gets an error answer") {
  scoped_bus bus{"receiver-type"};
  bus_process<sender_config> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("bus-peer", {bus.name, "b"});
  await_ready(child);
  auto echo = must_lookup(server.node, "b.echo");
  caf::scoped_actor self{*server.sys};
  auto err = request_error(self, echo, sender_only_thing{3});
  CHECK(err == bus::errc::unregistered_type);
  auto text = server.sys->render(err);
  CHECK_MESSAGE(text.find("sender_only_thing") != std::string::npos, text);
  CHECK_MESSAGE(text.find("'b'") != std::string::npos, text);
  // A plain send of it is dropped by the receiver, which keeps working.
  self->send(echo, sender_only_thing{4});
  CHECK(request_int(self, echo, 21) == 42);
  stop_child(server.node, child);
}

TEST_CASE("a sender blocked by a full inbox fails with inbox_full after full-inbox-timeout") {
  scoped_bus bus{"inbox-full"};
  bus_process<test_config> server{bus.name, "server", "srv", [](test_config& cfg) {
                                    // The stopped receiver must not count as hung.
                                    cfg.shmbus.heartbeat_interval = 100ms;
                                    cfg.shmbus.heartbeat_timeout = 30s;
                                    cfg.shmbus.inbox_size = 4096;
                                    cfg.shmbus.max_message_size = 1024;
                                    cfg.shmbus.full_inbox_timeout = 200ms;
                                  }};
  auto child = child_process::spawn("bus-peer", {bus.name, "b"});
  await_ready(child);
  auto echo = must_lookup(server.node, "b.echo");
  caf::scoped_actor self{*server.sys};
  REQUIRE(request_int(self, echo, 1) == 2);
  child.signal(SIGSTOP);
  REQUIRE(wait_until([&] { return is_stopped(child.pid()); }, 5s));
  auto reporter = caf::actor_cast<caf::actor>(self);
  // Requests, one after the other, until one fails.
  auto flooder = server.sys->spawn([=](caf::event_based_actor* a) -> caf::behavior {
    auto sent = std::make_shared<int32_t>(0);
    auto failed = std::make_shared<bool>(false);
    a->send(a, tick_atom::value);
    return {[=](tick_atom) {
      if (*failed || *sent >= 1000)
        return;
      ++*sent;
      a->request(echo, caf::infinite, payload{*sent, std::string(500, 'z')})
        .then([](payload&) {},
              [=](caf::error& err) {
                if (!*failed) {
                  *failed = true;
                  a->send(reporter, *sent, err);
                }
              });
      a->send(a, tick_atom::value);
    }};
  });
  exit_on_scope_end guard{flooder};
  auto start = std::chrono::steady_clock::now();
  int32_t sent = 0;
  caf::error err;
  auto got = receive_within(self, 10s, [&](int32_t n, caf::error& e) {
    sent = n;
    err = e;
  });
  child.signal(SIGCONT);
  REQUIRE_MESSAGE(got, "no request failed within 10 s");
  CHECK_MESSAGE(err == bus::errc::inbox_full, server.sys->render(err));
  CHECK(sent < 20);
  CHECK(elapsed_ms(start) < 5000);
  // Once the receiver runs again, it drains its inbox and answers.
  CHECK(request_int(self, echo, 2) == 4);
  stop_child(server.node, child);
}

TEST_CASE("an invalid bus name is refused with invalid_bus_name naming the name") {
  test_config cfg;
  configure(cfg, "bad name/with slash", "server", "srv");
  caf::actor_system sys{cfg};
  auto started = bus::node::start(sys);
  REQUIRE_FALSE(started);
  CHECK(started.error() == bus::errc::invalid_bus_name);
  auto text = sys.render(started.error());
  CHECK_MESSAGE(text.find("bad name/with slash") != std::string::npos, text);
  // No name at all: the error names the option.
  auto settings = cfg.shmbus;
  settings.bus.clear();
  auto missing = bus::node::start(sys, settings);
  REQUIRE_FALSE(missing);
  CHECK_MESSAGE(sys.render(missing.error()).find("shmbus.bus") != std::string::npos,
                sys.render(missing.error()));
}

TEST_CASE("a second server for a running bus is refused with server_running") {
  scoped_bus bus{"second-server"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("bus-second-server", {bus.name});
  auto line = child.read_line(10s);
  REQUIRE(line);
  auto expected = "refused " + std::to_string(static_cast<int>(bus::errc::server_running)) + " ";
  CHECK_MESSAGE(line->rfind(expected, 0) == 0, *line);
  CHECK_MESSAGE(line->find("server_running") != std::string::npos, *line);
  auto status = child.wait(5s);
  REQUIRE(status);
  CHECK(status->exited);
  // The first server is unaffected.
  CHECK(server.node.peers().empty());
  auto local = server.sys->spawn(multi_doubler);
  exit_on_scope_end guard{local};
  CHECK_FALSE(server.node.publish(local, "still-serving"));
}

TEST_CASE("a corrupt record in an inbox is counted, logged and skipped, and the node keeps working") {
  scoped_bus bus{"corrupt"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("bus-logging-peer", {bus.name});
  await_ready(child);
  auto echo = must_lookup(server.node, "echo");
  caf::scoped_actor self{*server.sys};
  REQUIRE(request_int(self, echo, 1) == 2);
  auto slot = peer_of(server.node, child.pid()).slot;
  auto seg = transport::segment::attach(bus.name);
  REQUIRE(seg);
  SUBCASE("garbage where the next record starts") {
    auto ring = seg->ring(slot);
    auto head = ring.control()->head.load(std::memory_order_acquire);
    ring.word(head).store(0x1234, std::memory_order_release);
    ring.wake_consumer();
    CHECK(wait_until(
      [&] { return server.node.transport_node().counters(slot).corrupt_records >= 1; }, 5s));
    CHECK(request_int(self, echo, 21) == 42);
    self->request(echo, 5s, std::string{"marker"}).receive([](int32_t) {}, [](caf::error&) {});
    auto lines = lines_until(child, "marker");
    CHECK(count_containing(lines, "corrupt record") == 1);
  }
  SUBCASE("well-formed records with garbage inside") {
    // A process on the bus that is not a CAF node writes nonsense.
    transport::node_options opts;
    opts.bus = bus.name;
    opts.role = transport::node_role::client;
    opts.name = "scribbler";
    auto scribbler = transport::node::start(opts);
    REQUIRE(scribbler);
    auto incarnation = [&] {
      for (auto& peer : (*scribbler)->peers())
        if (peer.slot == slot)
          return peer.incarnation;
      return uint32_t{0};
    }();
    const char too_short[] = {1, 2, 3};
    const char unknown_kind[] = {99, 0, 0, 0};
    char junk_message[64];
    for (size_t i = 0; i < sizeof(junk_message); ++i)
      junk_message[i] = static_cast<char>(i * 37 + 1);
    junk_message[0] = 1; // wire::kind::message
    for (auto [data, size] : {std::make_pair(too_short, sizeof(too_short)),
                              std::make_pair(unknown_kind, sizeof(unknown_kind)),
                              std::make_pair(static_cast<const char*>(junk_message),
                                             sizeof(junk_message))})
      CHECK_FALSE((*scribbler)->send(slot, incarnation, data, size));
    CHECK(request_int(self, echo, 21) == 42);
    self->request(echo, 5s, std::string{"marker"}).receive([](int32_t) {}, [](caf::error&) {});
    auto lines = lines_until(child, "marker");
    CHECK(count_containing(lines, "was refused and skipped") >= 2);
    (*scribbler)->leave();
  }
  stop_child(server.node, child);
}

TEST_CASE("a shmbus error is matched by category and code and rendered with its text") {
  scoped_bus bus{"error-category"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("bus-peer", {bus.name, "b"});
  await_ready(child);
  auto echo = must_lookup(server.node, "b.echo");
  caf::scoped_actor self{*server.sys};
  auto err = request_error(self, echo, unregistered_thing{1});
  CHECK(err.category() == caf::atom("shmbus"));
  CHECK(err.category() == bus::errc_category);
  CHECK(err.code() == static_cast<uint8_t>(bus::errc::unregistered_type));
  CHECK(err == bus::errc::unregistered_type);
  CHECK(err != bus::errc::inbox_full);
  CHECK(err != caf::sec::unknown_type);
  auto text = server.sys->render(err);
  CHECK_MESSAGE(text.rfind("shmbus::unregistered_type: ", 0) == 0, text);
  stop_child(server.node, child);
}
