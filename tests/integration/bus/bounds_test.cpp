// Every in-process table of the bus has a bound, and reaching it is an error
// to the sender, never a silent drop: requests waiting for answers
// (max-pending-requests: the oldest fails with too_many_requests) and records
// held for a full inbox (max-queued-bytes-per-peer, max-queued-bytes: the
// record fails with inbox_full naming the option).
#include <doctest/doctest.h>

#include "shmbus/transport/node.hpp"

#include "forged_records.hpp"
#include "test_types.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

/// Sends `n` requests of `bytes` payload bytes to `dest` at once and
/// reports (index, error) to `reporter` for each one that fails.
caf::behavior requester(caf::event_based_actor* self, caf::actor dest, int32_t n, size_t bytes,
                        caf::actor reporter) {
  for (int32_t i = 0; i < n; ++i)
    self->request(dest, caf::infinite, payload{i, std::string(bytes, 'q')})
      .then([](payload&) {}, [=](caf::error& err) { self->send(reporter, i, err); });
  return {[](int32_t) {}};
}

} // namespace

TEST_CASE("past max-pending-requests the oldest request fails with too_many_requests") {
  scoped_bus bus{"pending-bound"};
  bus_process<test_config> server{bus.name, "server", "srv", [](test_config& cfg) {
                                    slow_heartbeats(cfg);
                                    cfg.shmbus.max_pending_requests = 4;
                                  }};
  auto child = child_process::spawn("bus-peer", {bus.name, "b"});
  await_ready(child);
  auto hole = must_lookup(server.node, "b.blackhole");
  caf::scoped_actor self{*server.sys};
  auto reporter = caf::actor_cast<caf::actor>(self);
  // Five requests that are never answered, sent in this order.
  auto asker = server.sys->spawn([=](caf::event_based_actor* a) -> caf::behavior {
    for (int32_t i = 0; i < 5; ++i)
      a->request(hole, caf::infinite, hang_atom::value)
        .then([] {}, [=](caf::error& err) { a->send(reporter, i, err); });
    return {[](int32_t) {}};
  });
  int32_t failed = -1;
  caf::error err;
  REQUIRE(receive_within(self, 5s, [&](int32_t i, caf::error& e) {
    failed = i;
    err = e;
  }));
  CHECK(failed == 0);
  CHECK_MESSAGE(err == bus::errc::too_many_requests, server.sys->render(err));
  CHECK_MESSAGE(server.sys->render(err).find("shmbus.max-pending-requests") != std::string::npos,
                server.sys->render(err));
  // The other four still wait: nothing else arrives.
  CHECK_FALSE(receive_within(self, 200ms, [&](int32_t, caf::error&) {}));
  stop_child(server.node, child);
  caf::anon_send_exit(asker, caf::exit_reason::user_shutdown);
}

TEST_CASE("records held for a full inbox past max-queued-bytes fail with inbox_full naming the bound") {
  scoped_bus bus{"queue-bound"};
  std::string option;
  size_t per_peer = size_t{1} << 20;
  size_t total = size_t{1} << 20;
  SUBCASE("per peer") {
    per_peer = 16 * 1024;
    option = "shmbus.max-queued-bytes-per-peer=16384";
  }
  SUBCASE("in all") {
    total = 8 * 1024;
    option = "shmbus.max-queued-bytes=8192";
  }
  bus_process<test_config> server{bus.name, "server", "srv", [&](test_config& cfg) {
                                    // The stopped receiver must not count as hung, and
                                    // held records must not fail for lack of progress.
                                    cfg.shmbus.heartbeat_interval = 100ms;
                                    cfg.shmbus.heartbeat_timeout = 30s;
                                    cfg.shmbus.full_inbox_timeout = 30s;
                                    cfg.shmbus.inbox_size = 8192;
                                    cfg.shmbus.max_message_size = 2048;
                                    cfg.shmbus.max_queued_bytes_per_peer = per_peer;
                                    cfg.shmbus.max_queued_bytes = total;
                                  }};
  auto child = child_process::spawn("bus-peer", {bus.name, "b"});
  await_ready(child);
  auto echo = must_lookup(server.node, "b.echo");
  child.signal(SIGSTOP);
  REQUIRE(wait_until([&] { return is_stopped(child.pid()); }, 5s));
  // Fill its inbox with harmless records (watches of an actor it never
  // had), then meet the full inbox with a record that must not wait: the
  // watch of a new proxy. From then on records for it are held.
  forge::fill_inbox(server.node.transport_node(), peer_of(server.node, child.pid()));
  auto calc = must_lookup(server.node, "b.calc");
  caf::scoped_actor self{*server.sys};
  auto flooder = server.sys->spawn(requester, echo, 40, 1000,
                                   caf::actor_cast<caf::actor>(self));
  int32_t index = -1;
  caf::error err;
  auto start = std::chrono::steady_clock::now();
  REQUIRE(receive_within(self, 5s, [&](int32_t i, caf::error& e) {
    index = i;
    err = e;
  }));
  CHECK(elapsed_ms(start) < 3000); // at once, not after full-inbox-timeout
  CHECK_MESSAGE(err == bus::errc::inbox_full, server.sys->render(err));
  auto text = server.sys->render(err);
  CHECK_MESSAGE(text.find(option) != std::string::npos, text);
  CHECK(index > 0);
  CHECK(index < 40);
  // Once it runs again, the held records reach it in order and are answered.
  child.signal(SIGCONT);
  int32_t doubled = 0;
  self->request(echo, 10s, int32_t{21}).receive([&](int32_t x) { doubled = x; },
                                               [&](caf::error& e) {
                                                 FAIL_CHECK(server.sys->render(e));
                                               });
  CHECK(doubled == 42);
  caf::anon_send_exit(flooder, caf::exit_reason::user_shutdown);
  stop_child(server.node, child);
}
