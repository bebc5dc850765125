// Monitors and links across processes: down_msg and exit_msg carry the real
// exit reason of the actor that quit, links deliver exactly one exit_msg,
// demonitor and unlink (from either side) stop them.
#include <doctest/doctest.h>

#include "test_types.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

using plain_atom = caf::atom_constant<caf::atom("plain")>;
using dead_atom = caf::atom_constant<caf::atom("dead")>;

/// Exit reasons of a category the bus does not know, as a user's own would
/// be: they cross processes with code, category and description intact.
constexpr caf::atom_value user_category = caf::atom("test_user");

enum class user_errc : uint8_t { bye = 1, please_stop };

caf::error make_error(user_errc x) {
  return {static_cast<uint8_t>(x), user_category};
}

caf::error make_error(user_errc x, std::string what) {
  return {static_cast<uint8_t>(x), user_category,
          caf::make_message(std::move(what))};
}

struct mortal_state {
  caf::actor reporter;
  int32_t exits = 0;
  int32_t downs = 0;
};

/// An actor that traps exits and reports every exit_msg and down_msg to its
/// reporter as (report, "exit"|"down", source id, reason).
caf::behavior mortal_impl(caf::stateful_actor<mortal_state>* self) {
  self->set_exit_handler([=](caf::exit_msg& msg) {
    ++self->state.exits;
    if (self->state.reporter)
      self->send(self->state.reporter, report_atom::value, std::string{"exit"},
                 msg.source.id(), msg.reason);
  });
  self->set_down_handler([=](caf::down_msg& msg) {
    ++self->state.downs;
    if (self->state.reporter)
      self->send(self->state.reporter, report_atom::value, std::string{"down"},
                 msg.source.id(), msg.reason);
  });
  return {
    [=](quit_atom, caf::error reason) { self->quit(std::move(reason)); },
    [=](report_atom, caf::actor reporter) {
      self->state.reporter = std::move(reporter);
      return int32_t{0};
    },
    [=](caf::link_atom, caf::actor other) {
      self->link_to(other);
      return int32_t{0};
    },
    [=](caf::unlink_atom, caf::actor other) {
      self->unlink_from(other);
      return int32_t{0};
    },
    [=](watch_atom, caf::actor other) {
      self->monitor(other);
      return int32_t{0};
    },
    [=](caf::get_atom) { return std::make_tuple(self->state.exits, self->state.downs); },
  };
}

struct report {
  std::string kind;
  caf::actor_id source = 0;
  caf::error reason;
};

/// The next report, or a failed check after 5 s.
report next_report(caf::scoped_actor& self) {
  report result;
  auto got = receive_within(self, 5s,
                            [&](report_atom, std::string& kind, caf::actor_id source,
                                caf::error& reason) {
                              result = report{kind, source, reason};
                            });
  CHECK_MESSAGE(got, "no report within 5 s");
  return result;
}

/// Sends a request and waits for its int32_t answer (or a failed check).
template <class... Ts>
void call(caf::scoped_actor& self, const caf::actor& dest, Ts&&... xs) {
  self->request(dest, 5s, std::forward<Ts>(xs)...)
    .receive([](int32_t) {},
             [&](caf::error& err) { FAIL_CHECK(self->system().render(err)); });
}

/// (exits, downs) seen by a mortal.
std::pair<int32_t, int32_t> counts(caf::scoped_actor& self, const caf::actor& mortal) {
  std::pair<int32_t, int32_t> result{-1, -1};
  self->request(mortal, 5s, caf::get_atom::value)
    .receive([&](int32_t exits, int32_t downs) { result = {exits, downs}; },
             [&](caf::error& err) { FAIL_CHECK(self->system().render(err)); });
  return result;
}

/// Two fresh mortals in the child and its process's bus.
struct fixture {
  explicit fixture(const std::string& tag)
    : bus(tag), server(bus.name, "server", "srv"),
      child(child_process::spawn("bus-mortals", {bus.name})) {
    await_ready(child);
    auto factory = must_lookup(server.node, "factory");
    caf::scoped_actor self{*server.sys};
    for (auto* m : {&m1, &m2})
      self->request(factory, 5s, caf::spawn_atom::value)
        .receive([&](caf::actor& x) { *m = x; },
                 [&](caf::error& err) { FAIL_CHECK(server.sys->render(err)); });
    REQUIRE(m1);
    REQUIRE(m2);
  }

  ~fixture() {
    m1 = m2 = caf::actor{};
    stop_child(server.node, child);
  }

  /// Makes a remote mortal quit and waits until this process has seen it.
  void quit_and_wait(const caf::actor& m, caf::error reason) {
    caf::scoped_actor watcher{*server.sys};
    watcher->monitor(m);
    watcher->send(m, quit_atom::value, std::move(reason));
    REQUIRE(receive_within(watcher, 5s, [](caf::down_msg&) {}));
  }

  scoped_bus bus;
  bus_process<test_config> server;
  child_process child;
  caf::actor m1;
  caf::actor m2;
};

} // namespace

// args: bus. Publishes "factory", which spawns mortals on request.
SHMBUS_CHILD_ROLE("bus-mortals") {
  child_bus<> p{args.at(0), "client", "mortals"};
  auto factory = p.sys->spawn([](caf::event_based_actor* self) -> caf::behavior {
    using entry = std::pair<caf::response_promise, caf::actor>;
    auto waiting = std::make_shared<std::map<caf::actor_id, entry>>();
    self->set_down_handler([=](caf::down_msg& dm) {
      auto i = waiting->find(dm.source.id());
      if (i != waiting->end()) {
        i->second.first.deliver(i->second.second);
        waiting->erase(i);
      }
    });
    return {
      [=](caf::spawn_atom) { return self->spawn(mortal_impl); },
      // An actor that does not trap exits.
      [=](caf::spawn_atom, plain_atom) -> caf::actor {
        return self->spawn([]() -> caf::behavior { return {[](int32_t x) { return x; }}; });
      },
      // The handle of an actor that has already quit (sent after its end).
      [=](caf::spawn_atom, dead_atom) {
        auto x = self->spawn(mortal_impl);
        self->monitor(x);
        self->send(x, quit_atom::value, caf::error{caf::exit_reason::user_shutdown});
        auto promise = self->make_response_promise();
        waiting->emplace(x.id(), entry{promise, x});
        return promise;
      },
    };
  });
  p.publish(factory, "factory");
  say("ready");
  p.await_stop();
  p.node.stop();
  caf::anon_send_exit(factory, caf::exit_reason::user_shutdown);
  return 0;
}

TEST_CASE("a monitor of a remote actor gets a down_msg with the actor's own exit reason") {
  fixture f{"monitor"};
  caf::scoped_actor self{*f.server.sys};
  self->monitor(f.m1);
  self->monitor(f.m2);
  self->send(f.m1, quit_atom::value, make_error(user_errc::bye, "bye from m1"));
  self->send(f.m2, quit_atom::value, caf::error{caf::exit_reason::user_shutdown});
  std::map<caf::actor_id, caf::error> reasons;
  for (int i = 0; i < 2; ++i)
    REQUIRE(receive_within(self, 5s, [&](caf::down_msg& dm) {
      reasons[dm.source.id()] = dm.reason;
    }));
  auto& r1 = reasons[f.m1.id()];
  CHECK(r1.category() == user_category);
  CHECK(r1 == user_errc::bye);
  CHECK_MESSAGE(f.server.sys->render(r1).find("bye from m1") != std::string::npos,
                f.server.sys->render(r1));
  CHECK(reasons[f.m2.id()] == caf::exit_reason::user_shutdown);
}

TEST_CASE("a demonitored remote actor sends no down_msg") {
  fixture f{"demonitor"};
  caf::scoped_actor self{*f.server.sys};
  self->monitor(f.m1);
  self->demonitor(f.m1);
  self->monitor(f.m2);
  f.quit_and_wait(f.m1, caf::exit_reason::user_shutdown);
  self->send(f.m2, quit_atom::value, caf::error{caf::exit_reason::user_shutdown});
  caf::actor_id first_down = 0;
  REQUIRE(receive_within(self, 5s, [&](caf::down_msg& dm) { first_down = dm.source.id(); }));
  CHECK(first_down == f.m2.id());
}

TEST_CASE("a link to a remote actor delivers exactly one exit_msg with the actor's exit reason") {
  fixture f{"link-remote-quits"};
  caf::scoped_actor self{*f.server.sys};
  auto local = f.server.sys->spawn(mortal_impl);
  exit_on_scope_end guard{local};
  call(self, local, report_atom::value, caf::actor_cast<caf::actor>(self));
  call(self, local, caf::link_atom::value, f.m1);
  self->send(f.m1, quit_atom::value, make_error(user_errc::bye, "linked bye"));
  auto r = next_report(self);
  CHECK(r.kind == "exit");
  CHECK(r.source == f.m1.id());
  CHECK(r.reason == user_errc::bye);
  CHECK(f.server.sys->render(r.reason).find("linked bye") != std::string::npos);
  // A second exit_msg would have been sent before this round trip's answer.
  CHECK(counts(self, f.m2) == std::make_pair(0, 0));
  CHECK(counts(self, local) == std::make_pair(1, 0));
}

TEST_CASE("a remote actor linked to or monitoring a local actor sees the local actor's reason once") {
  fixture f{"link-local-quits"};
  caf::scoped_actor self{*f.server.sys};
  auto reporter = caf::actor_cast<caf::actor>(self);
  auto local = f.server.sys->spawn(mortal_impl);
  exit_on_scope_end guard{local};
  // m1 links to the local actor (the remote side starts the link), m2
  // monitors it.
  call(self, f.m1, report_atom::value, reporter);
  call(self, f.m2, report_atom::value, reporter);
  call(self, f.m1, caf::link_atom::value, local);
  call(self, f.m2, watch_atom::value, local);
  self->send(local, quit_atom::value, make_error(user_errc::bye, "local bye"));
  std::map<std::string, report> reports;
  for (int i = 0; i < 2; ++i) {
    auto r = next_report(self);
    reports[r.kind] = r;
  }
  REQUIRE(reports.count("exit") == 1);
  REQUIRE(reports.count("down") == 1);
  for (auto& [kind, r] : reports) {
    CAPTURE(kind);
    CHECK(r.source == local.id());
    CHECK(r.reason == user_errc::bye);
    CHECK(f.server.sys->render(r.reason).find("local bye") != std::string::npos);
  }
  CHECK(counts(self, f.m1) == std::make_pair(1, 0));
  CHECK(counts(self, f.m2) == std::make_pair(0, 1));
}

TEST_CASE("a link started by the local actor carries its exit reason to the remote actor") {
  fixture f{"link-local-starts"};
  caf::scoped_actor self{*f.server.sys};
  call(self, f.m1, report_atom::value, caf::actor_cast<caf::actor>(self));
  auto local = f.server.sys->spawn(mortal_impl);
  exit_on_scope_end guard{local};
  call(self, local, caf::link_atom::value, f.m1);
  // The link has reached the child: m1 answers after the link record.
  CHECK(counts(self, f.m1) == std::make_pair(0, 0));
  self->send(local, quit_atom::value, caf::error{caf::exit_reason::user_shutdown});
  auto r = next_report(self);
  CHECK(r.kind == "exit");
  CHECK(r.source == local.id());
  CHECK(r.reason == caf::exit_reason::user_shutdown);
  CHECK(counts(self, f.m1) == std::make_pair(1, 0));
}

TEST_CASE("an unlinked remote actor no longer sends its exit_msg") {
  fixture f{"unlink"};
  caf::scoped_actor self{*f.server.sys};
  auto local = f.server.sys->spawn(mortal_impl);
  exit_on_scope_end guard{local};
  call(self, local, report_atom::value, caf::actor_cast<caf::actor>(self));
  SUBCASE("unlinked by the local actor") {
    call(self, local, caf::link_atom::value, f.m1);
    call(self, local, caf::link_atom::value, f.m2);
    call(self, local, caf::unlink_atom::value, f.m1);
  }
  SUBCASE("unlinked by the remote actor") {
    call(self, f.m1, caf::link_atom::value, local);
    call(self, f.m2, caf::link_atom::value, local);
    call(self, f.m1, caf::unlink_atom::value, local);
  }
  f.quit_and_wait(f.m1, make_error(user_errc::bye, "m1"));
  self->send(f.m2, quit_atom::value, make_error(user_errc::bye, "m2"));
  auto r = next_report(self);
  CHECK(r.kind == "exit");
  CHECK_MESSAGE(r.source == f.m2.id(), "the first exit_msg came from the unlinked actor");
  CHECK(counts(self, local) == std::make_pair(1, 0));
}

TEST_CASE("a request to a remote actor that has quit fails at once with request_receiver_down") {
  fixture f{"request-quit"};
  f.quit_and_wait(f.m1, caf::exit_reason::user_shutdown);
  caf::scoped_actor self{*f.server.sys};
  auto start = std::chrono::steady_clock::now();
  caf::error err;
  self->request(f.m1, 30s, caf::get_atom::value)
    .receive([](int32_t, int32_t) { FAIL_CHECK("answered by an actor that quit"); },
             [&](caf::error& x) { err = x; });
  CHECK_MESSAGE(err == caf::sec::request_receiver_down, f.server.sys->render(err));
  CHECK(elapsed_ms(start) < 3000);
}

TEST_CASE("send_exit to a remote actor delivers its reason: trapped as exit_msg, or as its end") {
  fixture f{"send-exit"};
  caf::scoped_actor self{*f.server.sys};
  call(self, f.m1, report_atom::value, caf::actor_cast<caf::actor>(self));
  self->send_exit(f.m1, make_error(user_errc::please_stop, "please stop"));
  auto r = next_report(self);
  CHECK(r.kind == "exit");
  CHECK(r.source == self->id());
  CHECK(r.reason == user_errc::please_stop);
  // An actor that does not trap exits ends with the reason.
  caf::actor plain;
  self->request(f.server.node.lookup("factory").value(), 5s, caf::spawn_atom::value,
                plain_atom::value)
    .receive([&](caf::actor& x) { plain = x; },
             [&](caf::error& err) { FAIL_CHECK(f.server.sys->render(err)); });
  REQUIRE(plain);
  self->monitor(plain);
  self->send_exit(plain, make_error(user_errc::please_stop, "you too"));
  caf::error reason;
  REQUIRE(receive_within(self, 5s, [&](caf::down_msg& dm) { reason = dm.reason; }));
  CHECK_MESSAGE(reason == user_errc::please_stop, f.server.sys->render(reason));
}

TEST_CASE("monitoring or linking a remote actor that already quit gives its down_msg or exit_msg at once") {
  fixture f{"already-dead"};
  caf::scoped_actor self{*f.server.sys};
  SUBCASE("its end was seen here before") {
    f.quit_and_wait(f.m1, make_error(user_errc::bye, "gone"));
    self->monitor(f.m1);
    caf::error reason;
    REQUIRE(receive_within(self, 5s, [&](caf::down_msg& dm) { reason = dm.reason; }));
    CHECK(reason == user_errc::bye);
    auto local = f.server.sys->spawn(mortal_impl);
    exit_on_scope_end guard{local};
    call(self, local, report_atom::value, caf::actor_cast<caf::actor>(self));
    call(self, local, caf::link_atom::value, f.m1);
    auto r = next_report(self);
    CHECK(r.kind == "exit");
    CHECK(r.source == f.m1.id());
    CHECK(r.reason == user_errc::bye);
  }
  SUBCASE("its handle arrives after its end") {
    // Its real reason is lost then (as in CAF's own networking): the down
    // message still comes and requests fail.
    caf::actor dead;
    self->request(f.server.node.lookup("factory").value(), 5s, caf::spawn_atom::value,
                  dead_atom::value)
      .receive([&](caf::actor& x) { dead = x; },
               [&](caf::error& err) { FAIL_CHECK(f.server.sys->render(err)); });
    REQUIRE(dead);
    self->monitor(dead);
    REQUIRE(receive_within(self, 5s, [](caf::down_msg&) {}));
    caf::error err;
    self->request(dead, 5s, caf::get_atom::value)
      .receive([](int32_t, int32_t) {}, [&](caf::error& x) { err = x; });
    CHECK(err == caf::sec::request_receiver_down);
  }
}

