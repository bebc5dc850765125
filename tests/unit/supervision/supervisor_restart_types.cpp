// permanent / transient / temporary children after normal and abnormal exits.
#include <doctest/doctest.h>

#include "supervisor_fixture.hpp"

using namespace shmbus;
using namespace shmbus::supervision;
using namespace shmbus::test;

namespace {

supervisor_flags lenient() {
  supervisor_flags flags;
  flags.intensity = 10;
  return flags;
}

} // namespace

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a permanent child restarts after a normal and after an "
                  "abnormal exit") {
  auto sup = start(lenient(), {worker("p")});
  auto first = probe.next_start();
  probe.finish(first.handle);
  CHECK_FALSE(probe.gone_reason(first.handle));
  auto second = probe.next_start();
  CHECK_EQ(second.id, "p");
  probe.crash(second.handle, boom());
  CHECK_EQ(probe.gone_reason(second.handle), boom());
  auto third = probe.next_start();
  auto info = child_of(sup, "p");
  CHECK_EQ(info.handle, third.handle);
  CHECK_EQ(info.restarts, 2u);
  CHECK_EQ(info.last_exit_reason, boom());
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a transient child restarts only after an abnormal exit") {
  auto spec = worker("t");
  spec.restart = restart_type::transient;
  auto sup = start(lenient(), {spec, worker("other")});
  auto t = probe.next_start();
  probe.next_start(); // other
  SUBCASE("normal exit: stays stopped, spec kept") {
    probe.finish(t.handle);
    CHECK_FALSE(probe.gone_reason(t.handle));
    auto info = child_of(sup, "t");
    CHECK_EQ(info.state, child_state::stopped);
    CHECK_FALSE(info.handle);
    CHECK_FALSE(info.last_exit_reason);
  }
  SUBCASE("user_shutdown exit: stays stopped") {
    probe.crash(t.handle, caf::exit_reason::user_shutdown);
    CHECK_EQ(probe.gone_reason(t.handle), caf::exit_reason::user_shutdown);
    auto info = child_of(sup, "t");
    CHECK_EQ(info.state, child_state::stopped);
    CHECK_EQ(info.last_exit_reason, caf::exit_reason::user_shutdown);
  }
  SUBCASE("abnormal exit: restarts") {
    probe.crash(t.handle, boom());
    CHECK_EQ(probe.gone_reason(t.handle), boom());
    auto again = probe.next_start();
    CHECK_EQ(again.id, "t");
    auto info = child_of(sup, "t");
    CHECK_EQ(info.state, child_state::running);
    CHECK_EQ(info.handle, again.handle);
    CHECK_EQ(info.restarts, 1u);
  }
  probe.drain();
  CHECK(probe.starts().empty());
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a temporary child is never restarted and its spec goes "
                  "with it") {
  auto spec = worker("tmp");
  spec.restart = restart_type::temporary;
  auto sup = start(lenient(), {worker("keep"), spec});
  probe.next_start();
  auto tmp = probe.next_start();
  SUBCASE("normal exit") {
    probe.finish(tmp.handle);
    CHECK_FALSE(probe.gone_reason(tmp.handle));
  }
  SUBCASE("abnormal exit") {
    probe.crash(tmp.handle, boom());
    CHECK_EQ(probe.gone_reason(tmp.handle), boom());
  }
  CHECK_FALSE(has_child(sup, "tmp"));
  CHECK(has_child(sup, "keep"));
  probe.drain();
  CHECK(probe.starts().empty());
}
