// The runtime API: start, terminate, restart, delete, which, count.
#include <doctest/doctest.h>

#include "supervisor_fixture.hpp"

using namespace shmbus;
using namespace shmbus::supervision;
using namespace shmbus::test;

TEST_CASE_FIXTURE(supervisor_fixture,
                  "start_child adds and starts a child after the others and "
                  "refuses a taken id with child_already_exists") {
  auto sup = start({}, {worker("a")});
  probe.next_start();
  auto b = start_child(self(), sup, worker("b"));
  REQUIRE(b);
  CHECK_EQ(probe.next_start().handle, *b);
  auto xs = children_of(sup);
  REQUIRE_EQ(xs.size(), 2u);
  CHECK_EQ(xs[1].id, "b");
  CHECK_EQ(xs[1].handle, *b);
  auto dup = start_child(self(), sup, worker("a"));
  REQUIRE_FALSE(dup);
  CHECK_EQ(dup.error(), errc::child_already_exists);
  CHECK_MESSAGE(render(dup.error()).find("'a'") != std::string::npos,
                render(dup.error()));
  probe.drain();
  CHECK(probe.starts().empty());
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "start_child of a child that fails to start returns "
                  "child_start_failed and keeps no spec") {
  auto sup = start({}, {worker("a")});
  worker_options opts;
  opts.fail_start = [](size_t) {
    return caf::make_error(caf::sec::runtime_error, "no license");
  };
  auto b = start_child(self(), sup, worker("b", opts));
  REQUIRE_FALSE(b);
  CHECK_EQ(b.error(), errc::child_start_failed);
  auto text = render(b.error());
  CHECK_MESSAGE(text.find("'b'") != std::string::npos, text);
  CHECK_MESSAGE(text.find("no license") != std::string::npos, text);
  CHECK_FALSE(has_child(sup, "b"));
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "terminate_child stops a child but keeps its spec, and "
                  "restart_child starts it again") {
  auto sup = start({}, {worker("a"), worker("b")});
  auto a = probe.next_start();
  probe.next_start();
  CHECK_FALSE(terminate_child(self(), sup, "a"));
  CHECK_EQ(probe.gone_reason(a.handle), caf::exit_reason::user_shutdown);
  auto info = child_of(sup, "a");
  CHECK_EQ(info.state, child_state::stopped);
  CHECK_FALSE(info.handle);
  CHECK_EQ(info.last_exit_reason, caf::exit_reason::user_shutdown);
  // Terminating a stopped child is fine (OTP).
  CHECK_FALSE(terminate_child(self(), sup, "a"));
  // The deliberate stop is not a failure: nothing restarts it.
  probe.drain();
  CHECK(probe.starts().empty());
  auto again = restart_child(self(), sup, "a");
  REQUIRE(again);
  CHECK_EQ(probe.next_start().handle, *again);
  info = child_of(sup, "a");
  CHECK_EQ(info.state, child_state::running);
  CHECK_EQ(info.handle, *again);
  CHECK_EQ(info.restarts, 1u);
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "restart_child and delete_child refuse a running child") {
  auto sup = start({}, {worker("a")});
  probe.next_start();
  auto r = restart_child(self(), sup, "a");
  REQUIRE_FALSE(r);
  CHECK_EQ(r.error(), errc::child_running);
  CHECK_EQ(delete_child(self(), sup, "a"), errc::child_running);
  CHECK(has_child(sup, "a"));
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "delete_child removes the spec of a stopped child and unknown "
                  "ids are child_not_found") {
  auto sup = start({}, {worker("a"), worker("b")});
  probe.next_starts({"a", "b"});
  CHECK_FALSE(terminate_child(self(), sup, "a"));
  CHECK_FALSE(delete_child(self(), sup, "a"));
  CHECK_FALSE(has_child(sup, "a"));
  CHECK_EQ(delete_child(self(), sup, "a"), errc::child_not_found);
  CHECK_EQ(terminate_child(self(), sup, "nope"), errc::child_not_found);
  auto r = restart_child(self(), sup, "nope");
  REQUIRE_FALSE(r);
  CHECK_EQ(r.error(), errc::child_not_found);
  // The id is free again.
  REQUIRE(start_child(self(), sup, worker("a")));
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "count_children counts specs, running children, supervisors "
                  "and workers") {
  auto sup = start({}, {worker("a"), supervisor_spec("sub", {}, {worker("s1")}),
                        worker("b")});
  probe.next_starts({"a", "s1", "b"});
  auto counts = count_children(self(), sup);
  REQUIRE(counts);
  CHECK_EQ(*counts, child_counts{3, 3, 1, 2});
  CHECK_FALSE(terminate_child(self(), sup, "b"));
  counts = count_children(self(), sup);
  REQUIRE(counts);
  CHECK_EQ(*counts, child_counts{3, 2, 1, 2});
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "calls to a supervisor that is gone fail instead of "
                  "hanging") {
  auto sup = start({}, {worker("a")});
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  CHECK_EQ(probe.down_reason(sup), caf::exit_reason::user_shutdown);
  auto xs = which_children(self(), sup);
  REQUIRE_FALSE(xs);
  CHECK_EQ(xs.error(), caf::sec::request_receiver_down);
  CHECK_EQ(which_children(self(), caf::actor{}).error(),
           caf::sec::invalid_argument);
}
