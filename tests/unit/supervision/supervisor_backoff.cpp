// Exponential backoff between restarts.
#include <doctest/doctest.h>

#include "supervisor_fixture.hpp"

using namespace std::chrono_literals;
using namespace shmbus;
using namespace shmbus::supervision;
using namespace shmbus::test;

namespace {

/// Slack on top of an upper bound: timers on a loaded 2-core machine fire late,
/// never early, so lower bounds are exact and upper bounds generous.
constexpr auto scheduling_slack = 1s;

} // namespace

TEST_CASE_FIXTURE(supervisor_fixture,
                  "backoff delays between restarts grow from the minimum to "
                  "the maximum and stay within their bounds") {
  supervisor_flags flags;
  flags.intensity = 100;
  flags.backoff = backoff_options{};
  flags.backoff->min_delay = 50ms;
  flags.backoff->max_delay = 200ms;
  flags.backoff->random_factor = 0.5;
  flags.backoff->reset_after = 1h;
  auto sup = start(flags, {worker("a")});
  auto a = probe.next_start();
  const std::vector<caf::timespan> base{50ms, 100ms, 200ms, 200ms};
  for (auto expected : base) {
    auto crashed_at = steady::now();
    probe.crash(a.handle, boom());
    a = probe.next_start();
    auto delay = a.at - crashed_at;
    auto upper = std::chrono::duration_cast<caf::timespan>(expected * 1.5)
                 + scheduling_slack;
    CHECK_MESSAGE(delay >= expected,
                  "restart after " << delay.count() << " ns, expected at least "
                                   << expected.count());
    CHECK_MESSAGE(delay <= upper,
                  "restart after " << delay.count() << " ns, expected at most "
                                   << upper.count());
  }
  CHECK_EQ(child_of(sup, "a").restarts, base.size());
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a child waiting for its backoff restart shows as restarting "
                  "and terminate_child cancels the restart") {
  supervisor_flags flags;
  flags.backoff = backoff_options{};
  flags.backoff->min_delay = 500ms;
  flags.backoff->max_delay = 500ms;
  flags.backoff->random_factor = 0.0;
  auto sup = start(flags, {worker("a"), worker("b")});
  auto a = probe.next_start();
  probe.next_start(); // b
  probe.crash(a.handle, boom());
  CHECK_EQ(probe.gone_reason(a.handle), boom());
  // The supervisor has the down_msg before our request (see probe::worker).
  auto info = child_of(sup, "a");
  CHECK_EQ(info.state, child_state::restarting);
  CHECK_FALSE(info.handle);
  CHECK_EQ(info.last_exit_reason, boom());
  SUBCASE("the restart happens after the delay") {
    auto again = probe.next_start();
    CHECK_EQ(again.id, "a");
    CHECK_EQ(child_of(sup, "a").state, child_state::running);
  }
  SUBCASE("terminate_child cancels it for good") {
    CHECK_FALSE(terminate_child(self(), sup, "a"));
    CHECK_EQ(child_of(sup, "a").state, child_state::stopped);
    // Past the delay (plus slack), the stale timer must not have started it.
    probe.collect_for(500ms + scheduling_slack);
    CHECK(probe.starts().empty());
    CHECK_EQ(child_of(sup, "a").state, child_state::stopped);
    // It can still be restarted by hand.
    auto hdl = restart_child(self(), sup, "a");
    REQUIRE(hdl);
    CHECK_EQ(probe.next_start().handle, *hdl);
  }
  SUBCASE("restart_child refuses while the restart is pending") {
    auto hdl = restart_child(self(), sup, "a");
    REQUIRE_FALSE(hdl);
    CHECK_EQ(hdl.error(), errc::child_running);
  }
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "the backoff starts over at the minimum after the child ran "
                  "for the quiet period") {
  manual_clock clock;
  supervisor_flags flags;
  flags.intensity = 100;
  flags.clock = clock.source();
  flags.backoff = backoff_options{};
  flags.backoff->min_delay = 50ms;
  flags.backoff->max_delay = 10s;
  flags.backoff->random_factor = 0.0;
  flags.backoff->reset_after = 30s;
  auto sup = start(flags, {worker("a")});
  auto a = probe.next_start();
  auto crash_and_measure = [&] {
    auto crashed_at = steady::now();
    probe.crash(a.handle, boom());
    a = probe.next_start();
    // The start report precedes the supervisor's bookkeeping of the start;
    // a round trip makes sure it is done before the test moves the clock.
    child_of(sup, "a");
    return a.at - crashed_at;
  };
  CHECK(crash_and_measure() >= 50ms);
  CHECK(crash_and_measure() >= 100ms);
  CHECK(crash_and_measure() >= 200ms);
  CHECK(crash_and_measure() >= 400ms);
  clock.advance(1min); // "a" has now run quietly for longer than reset_after
  auto delay = crash_and_measure();
  CHECK(delay >= 50ms);
  // Without the reset it would be 800 ms.
  CHECK_MESSAGE(delay < 800ms, "no reset: waited " << delay.count() << " ns");
}
