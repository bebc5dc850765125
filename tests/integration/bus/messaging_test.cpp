// Messages between actors of different processes: send, the three request
// forms, delayed response promises, custom types, handles inside messages
// across three processes, and ordering.
#include <doctest/doctest.h>

#include "batching_clock.hpp"
#include "test_types.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

caf::behavior echo_impl(caf::event_based_actor* self) {
  return {
    [](int32_t x) { return x * 2; },
    [](payload p) {
      p.seq += 1;
      p.text += " back";
      return p;
    },
    // Answers that cannot cross: too large, or of a type nobody registered.
    [](caf::get_atom, int32_t size) { return std::string(static_cast<size_t>(size), 'r'); },
    [](caf::get_atom, const std::string&) { return unregistered_thing{1}; },
    // Answers with the pid of the process the request came from.
    [=](who_atom) { return pid_of(self->current_sender()->node()); },
    // Answers a plain send with a plain send.
    [=](ping_atom, payload p) {
      p.text += " pong";
      self->send(caf::actor_cast<caf::actor>(self->current_sender()), pong_atom::value,
                 std::move(p));
    },
  };
}

struct delayed_state {
  std::vector<std::pair<caf::response_promise, int32_t>> waiting;
};

/// Answers x with x + 100 when its next tick (50 ms later) comes.
caf::behavior delayed_impl(caf::stateful_actor<delayed_state>* self) {
  return {
    [=](int32_t x) {
      self->state.waiting.emplace_back(self->make_response_promise(), x);
      self->delayed_send(self, std::chrono::milliseconds{50}, tick_atom::value);
      return self->state.waiting.back().first;
    },
    [=](tick_atom) {
      for (auto& [promise, x] : self->state.waiting)
        promise.deliver(x + 100);
      self->state.waiting.clear();
    },
  };
}

calc_actor::behavior_type calc_impl() {
  return {[](int32_t a, int32_t b) { return a + b; }};
}

/// Talks to actors whose handles arrive in messages. Its requests have no
/// timeout: a request timeout would keep this long-lived actor (and the
/// child's shutdown) waiting until it expires (CAF 0.17 does not cancel it
/// on the answer).
caf::behavior relay_impl(caf::event_based_actor* self, caf::actor own_echo) {
  auto forward = [=](auto&& req) {
    auto promise = self->make_response_promise();
    req.then([promise](int32_t y) mutable { promise.deliver(y); },
             [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
    return promise;
  };
  return {
    [=](caf::actor target, int32_t x) { return self->delegate(target, x); },
    [=](caf::actor target, who_atom who) {
      return forward(self->request(target, caf::infinite, who));
    },
    [=](calc_actor target, int32_t a, int32_t b) {
      return forward(self->request(target, caf::infinite, a, b));
    },
    [=](caf::get_atom) { return own_echo; },
  };
}

struct sink_state {
  int32_t expected = 0;
  int32_t count = 0;
  int32_t out_of_order = 0;
};

/// Counts (stream, seq) messages and how many broke the sequence.
caf::behavior sink_impl(caf::stateful_actor<sink_state>* self) {
  return {
    [=](stream_atom, int32_t seq) {
      auto& st = self->state;
      if (seq != st.expected)
        ++st.out_of_order;
      st.expected = seq + 1;
      ++st.count;
    },
    [=](caf::get_atom) { return std::make_tuple(self->state.count, self->state.out_of_order); },
  };
}

/// Sends n numbered messages to `dest`, then quits.
caf::behavior streamer_impl(caf::event_based_actor* self) {
  return {
    [=](stream_atom, caf::actor dest, int32_t n) {
      for (int32_t i = 0; i < n; ++i)
        self->send(dest, stream_atom::value, i);
      self->quit(caf::exit_reason::user_shutdown);
    },
  };
}

/// Sends `n` requests of about 1 KiB to `dest` at once, then reports to
/// `reporter` how many were answered and how many failed.
caf::behavior flood_impl(caf::event_based_actor* self, caf::actor dest, int32_t n,
                         caf::actor reporter) {
  auto answered = std::make_shared<int32_t>(0);
  auto failed = std::make_shared<int32_t>(0);
  auto done = [=] {
    if (*answered + *failed == n) {
      self->send(reporter, std::string{"flooded"}, *answered, *failed);
      self->quit();
    }
  };
  for (int32_t i = 0; i < n; ++i)
    self->request(dest, caf::infinite, payload{i, std::string(1000, 'f')})
      .then(
        [=](payload&) {
          ++*answered;
          done();
        },
        [=](caf::error&) {
          ++*failed;
          done();
        });
  return {[](int32_t) {}};
}

} // namespace

// args: bus, name. Publishes <name>.echo, .delayed, .calc, .relay, .sink,
// .streamer, .blackhole.
SHMBUS_CHILD_ROLE("bus-peer") {
  child_bus<> p{args.at(0), "client", args.at(1)};
  auto prefix = args.at(1) + ".";
  auto echo = p.sys->spawn(echo_impl);
  auto actors = std::vector<caf::actor>{
    echo,
    p.sys->spawn(delayed_impl),
    caf::actor_cast<caf::actor>(p.sys->spawn(calc_impl)),
    p.sys->spawn(relay_impl, echo),
    p.sys->spawn(sink_impl),
    p.sys->spawn(streamer_impl),
    p.sys->spawn(blackhole_impl),
  };
  p.publish(actors[0], prefix + "echo");
  p.publish(actors[1], prefix + "delayed");
  p.publish(caf::actor_cast<calc_actor>(actors[2]), prefix + "calc");
  p.publish(actors[3], prefix + "relay");
  p.publish(actors[4], prefix + "sink");
  p.publish(actors[5], prefix + "streamer");
  p.publish(actors[6], prefix + "blackhole");
  say("ready");
  p.await_stop();
  // Leave first: peers then see every actor go down with
  // remote_link_unreachable. The blackhole's promises refer to itself: it
  // ends only when told to.
  p.node.stop();
  for (auto& x : actors)
    caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
  return 0;
}

// args: bus, n. Publishes "f.echo", then floods "srv.echo" with n requests
// and prints "flooded <answered> <failed>".
SHMBUS_CHILD_ROLE("bus-flooder") {
  child_bus<> p{args.at(0), "client", "flooder"};
  auto echo = p.sys->spawn(echo_impl);
  p.publish(echo, "f.echo");
  say("ready");
  {
    caf::scoped_actor self{*p.sys};
    auto target = p.node.lookup("srv.echo", caf::timespan{std::chrono::seconds{5}});
    if (!target) {
      say("error: " + p.sys->render(target.error()));
      return 3;
    }
    self->spawn(flood_impl, *target, std::stoi(args.at(1)), caf::actor_cast<caf::actor>(self));
    self->receive(
      [](std::string&, int32_t answered, int32_t failed) {
        say("flooded " + std::to_string(answered) + " " + std::to_string(failed));
      },
      caf::after(std::chrono::seconds{20}) >> [] { say("flood timed out"); });
  }
  p.await_stop();
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  return 0;
}

TEST_CASE("a request to a remote actor is answered through receive, then and await") {
  scoped_bus bus{"request-forms"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("bus-peer", {bus.name, "b"});
  await_ready(child);
  auto echo = must_lookup(server.node, "b.echo");
  auto delayed = must_lookup(server.node, "b.delayed");
  caf::scoped_actor self{*server.sys};
  auto reporter = caf::actor_cast<caf::actor>(self);
  {
    int32_t answer = 0;
    self->request(echo, 5s, int32_t{21})
      .receive([&](int32_t x) { answer = x; },
               [&](caf::error& err) { FAIL_CHECK(text(*server.sys, err)); });
    CHECK(answer == 42);
  }
  {
    server.sys->spawn([=](caf::event_based_actor* a) {
      a->request(echo, 5s, int32_t{10})
        .then([=](int32_t x) { a->send(reporter, std::string{"then"}, x); },
              [=](caf::error& err) {
                a->send(reporter, "then failed: " + a->system().render(err), int32_t{0});
              });
    });
    std::string tag;
    int32_t value = 0;
    REQUIRE(receive_within(self, 5s, [&](std::string& t, int32_t x) {
      tag = t;
      value = x;
    }));
    CHECK(tag == "then");
    CHECK(value == 20);
  }
  {
    // While an await waits for its answer (50 ms late), other messages wait.
    auto awaiter = server.sys->spawn([=](caf::event_based_actor* a) -> caf::behavior {
      a->request(delayed, 5s, int32_t{1})
        .await([=](int32_t x) { a->send(reporter, std::string{"await"}, x); },
               [=](caf::error& err) {
                 a->send(reporter, "await failed: " + a->system().render(err), int32_t{0});
               });
      return {[=](ping_atom) {
        a->send(reporter, std::string{"ping"}, int32_t{0});
        a->quit();
      }};
    });
    self->send(awaiter, ping_atom::value);
    std::vector<std::pair<std::string, int32_t>> reports;
    for (int i = 0; i < 2; ++i)
      REQUIRE(receive_within(self, 5s, [&](std::string& t, int32_t x) {
        reports.emplace_back(t, x);
      }));
    CHECK(reports[0] == std::make_pair(std::string{"await"}, int32_t{101}));
    CHECK(reports[1] == std::make_pair(std::string{"ping"}, int32_t{0}));
  }
  stop_child(server.node, child);
}

TEST_CASE("an answer from another process cancels its request's timeout in shmbus's clock") {
  scoped_bus bus{"answered-timeouts"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("bus-peer", {bus.name, "b"});
  await_ready(child);
  auto echo = must_lookup(server.node, "b.echo");
  auto* clock = dynamic_cast<bus::batching_clock*>(&server.sys->clock());
  REQUIRE(clock != nullptr);
  // CAF 0.17.6 leaves an answered request's timeout scheduled until it
  // fires: 2000 requests with an hour each would stay an hour, with the
  // requester alive and in the clock. The requester here stays alive (its
  // exit would cancel them all anyway).
  caf::scoped_actor self{*server.sys};
  constexpr int32_t n = 2000;
  int32_t answered = 0;
  for (int32_t i = 0; i < n; ++i)
    self->request(echo, std::chrono::seconds{3600}, i)
      .receive([&](int32_t x) { answered += x == 2 * i ? 1 : 0; },
               [&](caf::error& err) { FAIL_CHECK(text(*server.sys, err)); });
  CHECK(answered == n);
  // Applied within the clock's batch bound (50 ms), given a loaded
  // machine's slack.
  CHECK_MESSAGE(wait_until([&] { return clock->scheduled() < 100; }, 5s),
                clock->scheduled() << " timeouts still scheduled");
  stop_child(server.node, child);
}

TEST_CASE("a delayed response_promise answers every remote request when it is delivered") {
  scoped_bus bus{"delayed-promise"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("bus-peer", {bus.name, "b"});
  await_ready(child);
  auto delayed = must_lookup(server.node, "b.delayed");
  caf::scoped_actor self{*server.sys};
  auto reporter = caf::actor_cast<caf::actor>(self);
  // Two requests wait in the remote actor at the same time.
  server.sys->spawn([=](caf::event_based_actor* a) {
    a->request(delayed, 5s, int32_t{7})
      .then([=](int32_t x) { a->send(reporter, std::string{"other"}, x); },
            [=](caf::error&) { a->send(reporter, std::string{"other failed"}, int32_t{0}); });
  });
  int32_t answer = 0;
  self->request(delayed, 5s, int32_t{5})
    .receive([&](int32_t x) { answer = x; },
             [&](caf::error& err) { FAIL_CHECK(text(*server.sys, err)); });
  CHECK(answer == 105);
  std::string tag;
  int32_t other = 0;
  REQUIRE(receive_within(self, 5s, [&](std::string& t, int32_t x) {
    tag = t;
    other = x;
  }));
  CHECK(tag == "other");
  CHECK(other == 107);
  stop_child(server.node, child);
}

TEST_CASE("plain sends with a registered custom struct go both ways between processes") {
  scoped_bus bus{"plain-send"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("bus-peer", {bus.name, "b"});
  await_ready(child);
  auto echo = must_lookup(server.node, "b.echo");
  caf::scoped_actor self{*server.sys};
  self->send(echo, ping_atom::value, payload{1, "hello"});
  payload got;
  REQUIRE(receive_within(self, 5s, [&](pong_atom, payload& p) { got = p; }));
  CHECK(got == payload{1, "hello pong"});
  // The same struct in a request and its answer.
  payload answer;
  self->request(echo, 5s, payload{41, "request"})
    .receive([&](payload& p) { answer = p; },
             [&](caf::error& err) { FAIL_CHECK(text(*server.sys, err)); });
  CHECK(answer == payload{42, "request back"});
  stop_child(server.node, child);
}

TEST_CASE("actor handles inside messages work in every direction across three processes") {
  scoped_bus bus{"handles"};
  bus_process<test_config> a{bus.name, "server", "a"};
  auto b = child_process::spawn("bus-peer", {bus.name, "b"});
  auto c = child_process::spawn("bus-peer", {bus.name, "c"});
  await_ready(b);
  await_ready(c);
  auto b_echo = must_lookup(a.node, "b.echo");
  auto b_relay = must_lookup(a.node, "b.relay");
  auto c_relay = must_lookup(a.node, "c.relay");
  caf::scoped_actor self{*a.sys};
  auto ask = [&](const caf::actor& dest, auto... xs) {
    int32_t result = -1;
    self->request(dest, 5s, xs...)
      .receive([&](int32_t x) { result = x; },
               [&](caf::error& err) { FAIL_CHECK(text(*a.sys, err)); });
    return result;
  };
  SUBCASE("A sends C a handle to B's actor and C talks to B directly") {
    CHECK(ask(c_relay, b_echo, who_atom::value) == c.pid());
    // Delegated by C: B answers A's request.
    CHECK(ask(c_relay, b_echo, int32_t{21}) == 42);
  }
  SUBCASE("B calls an actor of A whose handle it got in a message") {
    auto triple = a.sys->spawn([]() -> caf::behavior {
      return {[](int32_t x) { return x * 3; }};
    });
    CHECK(ask(b_relay, triple, int32_t{5}) == 15);
    caf::anon_send_exit(triple, caf::exit_reason::user_shutdown);
  }
  SUBCASE("a handle in an answer from C is passed on to B, which calls C") {
    caf::actor c_echo;
    self->request(c_relay, 5s, caf::get_atom::value)
      .receive([&](caf::actor& x) { c_echo = x; },
               [&](caf::error& err) { FAIL_CHECK(text(*a.sys, err)); });
    REQUIRE(c_echo);
    CHECK(c_echo.node() != a.sys->node());
    CHECK(ask(b_relay, c_echo, who_atom::value) == b.pid());
  }
  SUBCASE("a typed handle of B's actor sent to C") {
    auto calc = a.node.lookup<calc_actor>("b.calc", caf::timespan{5s});
    REQUIRE_MESSAGE(calc, text(*a.sys, calc.error()));
    CHECK(ask(c_relay, *calc, int32_t{3}, int32_t{4}) == 7);
  }
  stop_child(a.node, b);
  stop_child(a.node, c);
}

/// Inboxes of the default size, or so small that senders keep waiting for
/// room (on scheduler threads and on the I/O thread).
std::function<void(test_config&)> inbox_variant() {
  bool small = false;
  SUBCASE("roomy inboxes") {}
  SUBCASE("small inboxes") {
    small = true;
  }
  return [small](test_config& cfg) {
    if (small) {
      cfg.shmbus.inbox_size = 16384;
      cfg.shmbus.max_message_size = 4096;
    }
  };
}

TEST_CASE("messages from one sender to one remote receiver arrive in the order they were sent") {
  auto tweak = inbox_variant();
  scoped_bus bus{"order"};
  bus_process<test_config> server{bus.name, "server", "srv", tweak};
  auto child = child_process::spawn("bus-peer", {bus.name, "b"});
  await_ready(child);
  auto sink = must_lookup(server.node, "b.sink");
  caf::scoped_actor self{*server.sys};
  constexpr int32_t n = 20000;
  for (int32_t i = 0; i < n; ++i)
    self->send(sink, stream_atom::value, i);
  int32_t count = -1;
  int32_t out_of_order = -1;
  self->request(sink, 10s, caf::get_atom::value)
    .receive(
      [&](int32_t c, int32_t bad) {
        count = c;
        out_of_order = bad;
      },
      [&](caf::error& err) { FAIL_CHECK(text(*server.sys, err)); });
  CHECK(count == n);
  CHECK(out_of_order == 0);
  stop_child(server.node, child);
}

TEST_CASE("the down_msg of a remote actor arrives after every message that actor sent") {
  auto tweak = inbox_variant();
  scoped_bus bus{"down-last"};
  bus_process<test_config> server{bus.name, "server", "srv", tweak};
  auto child = child_process::spawn("bus-peer", {bus.name, "b"});
  await_ready(child);
  auto streamer = must_lookup(server.node, "b.streamer");
  caf::scoped_actor self{*server.sys};
  self->monitor(streamer);
  constexpr int32_t n = 5000;
  self->send(streamer, stream_atom::value, caf::actor_cast<caf::actor>(self), n);
  int32_t received = 0;
  int32_t out_of_order = 0;
  bool down = false;
  caf::error reason;
  auto got = true;
  while (got && !down)
    got = receive_within(
      self, 5s,
      [&](stream_atom, int32_t seq) {
        if (seq != received)
          ++out_of_order;
        ++received;
      },
      [&](caf::down_msg& dm) {
        down = true;
        reason = dm.reason;
      });
  REQUIRE_MESSAGE(got, "nothing for 5 s after " << received << " messages");
  CHECK(received == n);
  CHECK(out_of_order == 0);
  CHECK(reason == caf::exit_reason::user_shutdown);
  stop_child(server.node, child);
}

TEST_CASE("two processes flooding each other through small inboxes do not deadlock") {
  scoped_bus bus{"flood"};
  bus_process<test_config> server{bus.name, "server", "srv", [](test_config& cfg) {
                                    cfg.shmbus.inbox_size = 16384;
                                    cfg.shmbus.max_message_size = 4096;
                                  }};
  auto echo = server.sys->spawn(echo_impl);
  exit_on_scope_end guard{echo};
  REQUIRE_FALSE(server.node.publish(echo, "srv.echo"));
  constexpr int32_t n = 2000;
  auto child = child_process::spawn("bus-flooder", {bus.name, std::to_string(n)});
  await_ready(child);
  auto remote = must_lookup(server.node, "f.echo");
  caf::scoped_actor self{*server.sys};
  self->spawn(flood_impl, remote, n, caf::actor_cast<caf::actor>(self));
  int32_t answered = -1;
  int32_t failed = -1;
  CHECK(receive_within(self, 20s, [&](std::string&, int32_t ok, int32_t bad) {
    answered = ok;
    failed = bad;
  }));
  CHECK(answered == n);
  CHECK(failed == 0);
  auto line = child.read_line(20s);
  CHECK(line == std::optional<std::string>{"flooded " + std::to_string(n) + " 0"});
  stop_child(server.node, child);
}

