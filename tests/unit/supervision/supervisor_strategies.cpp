// What restarts when one child fails, per strategy.
#include <doctest/doctest.h>

#include "supervisor_fixture.hpp"

using namespace shmbus;
using namespace shmbus::supervision;
using namespace shmbus::test;

namespace {

supervisor_flags with_strategy(restart_strategy x) {
  supervisor_flags flags;
  flags.strategy = x;
  return flags;
}

} // namespace

TEST_CASE_FIXTURE(supervisor_fixture,
                  "one_for_one restarts only the failed child") {
  auto sup = start(with_strategy(restart_strategy::one_for_one),
                   {worker("a"), worker("b"), worker("c")});
  auto old = probe.next_starts({"a", "b", "c"});
  probe.crash(old[1].handle, boom());
  CHECK_EQ(probe.gone_reason(old[1].handle), boom());
  auto b = probe.next_start();
  CHECK_EQ(b.id, "b");
  auto xs = children_of(sup);
  REQUIRE_EQ(xs.size(), 3u);
  CHECK_EQ(xs[0].handle, old[0].handle);
  CHECK_EQ(xs[1].handle, b.handle);
  CHECK_EQ(xs[2].handle, old[2].handle);
  CHECK_EQ(xs[0].restarts, 0u);
  CHECK_EQ(xs[1].restarts, 1u);
  CHECK_EQ(xs[2].restarts, 0u);
  CHECK_EQ(xs[1].last_exit_reason, boom());
  // Nobody else was asked to stop.
  probe.drain();
  CHECK(probe.saw_exits().empty());
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "one_for_all stops the siblings in reverse order and restarts "
                  "all children in start order") {
  auto sup = start(with_strategy(restart_strategy::one_for_all),
                   {worker("a"), worker("b"), worker("c")});
  auto old = probe.next_starts({"a", "b", "c"});
  probe.crash(old[1].handle, boom());
  CHECK_EQ(probe.next_saw_exit().id, "c");
  CHECK_EQ(probe.next_saw_exit().id, "a");
  CHECK_EQ(probe.gone_reason(old[0].handle), caf::exit_reason::user_shutdown);
  CHECK_EQ(probe.gone_reason(old[2].handle), caf::exit_reason::user_shutdown);
  auto fresh = probe.next_starts({"a", "b", "c"});
  auto xs = children_of(sup);
  REQUIRE_EQ(xs.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    CHECK_EQ(xs[i].handle, fresh[i].handle);
    CHECK_EQ(xs[i].restarts, 1u);
    CHECK_EQ(xs[i].state, child_state::running);
  }
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "rest_for_one restarts the failed child and those started "
                  "after it") {
  auto sup = start(with_strategy(restart_strategy::rest_for_one),
                   {worker("a"), worker("b"), worker("c"), worker("d")});
  auto old = probe.next_starts({"a", "b", "c", "d"});
  probe.crash(old[1].handle, boom());
  CHECK_EQ(probe.next_saw_exit().id, "d");
  CHECK_EQ(probe.next_saw_exit().id, "c");
  probe.next_starts({"b", "c", "d"});
  auto xs = children_of(sup);
  REQUIRE_EQ(xs.size(), 4u);
  CHECK_EQ(xs[0].handle, old[0].handle);
  CHECK_EQ(xs[0].restarts, 0u);
  for (size_t i = 1; i < 4; ++i) {
    CHECK_NE(xs[i].handle, old[i].handle);
    CHECK_EQ(xs[i].restarts, 1u);
  }
  probe.drain();
  CHECK(probe.saw_exits().empty()); // "a" was left alone
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "one_for_all does not restart a temporary sibling and drops "
                  "its spec") {
  auto temp = worker("t");
  temp.restart = restart_type::temporary;
  auto sup = start(with_strategy(restart_strategy::one_for_all),
                   {worker("a"), temp, worker("b")});
  auto old = probe.next_starts({"a", "t", "b"});
  probe.crash(old[0].handle, boom());
  CHECK_EQ(probe.gone_reason(old[1].handle), caf::exit_reason::user_shutdown);
  probe.next_starts({"a", "b"});
  auto xs = children_of(sup);
  REQUIRE_EQ(xs.size(), 2u);
  CHECK_EQ(xs[0].id, "a");
  CHECK_EQ(xs[1].id, "b");
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "one_for_all also restarts a sibling that was terminated by "
                  "hand, as OTP does") {
  auto sup = start(with_strategy(restart_strategy::one_for_all),
                   {worker("a"), worker("b")});
  auto old = probe.next_starts({"a", "b"});
  REQUIRE_FALSE(terminate_child(self(), sup, "b"));
  CHECK_EQ(child_of(sup, "b").state, child_state::stopped);
  probe.crash(old[0].handle, boom());
  probe.next_starts({"a", "b"});
  CHECK_EQ(child_of(sup, "b").state, child_state::running);
}
