// Restart intensity and escalation through a supervision tree.
#include <doctest/doctest.h>

#include "supervisor_fixture.hpp"

using namespace shmbus;
using namespace shmbus::supervision;
using namespace shmbus::test;

TEST_CASE_FIXTURE(supervisor_fixture,
                  "more restarts than the intensity make the supervisor stop "
                  "its children and exit with restart_intensity_exceeded") {
  supervisor_flags flags;
  flags.intensity = 2;
  auto sup = start(flags, {worker("a"), worker("b")});
  auto a = probe.next_start();
  auto b = probe.next_start();
  for (int i = 0; i < 2; ++i) {
    probe.crash(b.handle, boom());
    CHECK_EQ(probe.gone_reason(b.handle), boom());
    b = probe.next_start();
  }
  probe.crash(b.handle, boom()); // the third within the period
  auto reason = probe.down_reason(sup);
  CHECK_EQ(reason, errc::restart_intensity_exceeded);
  auto text = render(reason);
  CHECK_MESSAGE(text.find("'b'") != std::string::npos, text);
  CHECK_MESSAGE(text.find("boom") != std::string::npos, text);
  CHECK_EQ(probe.gone_reason(a.handle), caf::exit_reason::user_shutdown);
  probe.drain();
  CHECK(probe.starts().empty());
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "restarts further apart than the period do not add up") {
  manual_clock clock;
  supervisor_flags flags;
  flags.intensity = 1;
  flags.period = std::chrono::seconds{5};
  flags.clock = clock.source();
  auto sup = start(flags, {worker("a")});
  auto a = probe.next_start();
  probe.crash(a.handle, boom());
  a = probe.next_start(); // 1 restart within 5 s: fine
  clock.advance(std::chrono::seconds{6});
  probe.crash(a.handle, boom());
  a = probe.next_start(); // the first one has left the window
  CHECK_EQ(child_of(sup, "a").restarts, 2u);
  probe.crash(a.handle, boom()); // 2 within 5 s: too many
  CHECK_EQ(probe.down_reason(sup), errc::restart_intensity_exceeded);
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a restart that fails to start counts against the intensity "
                  "and is retried until the supervisor gives up") {
  worker_options opts;
  opts.fail_start = [](size_t attempt) -> caf::error {
    if (attempt == 0)
      return caf::none;
    return caf::make_error(caf::sec::runtime_error, "still broken");
  };
  supervisor_flags flags;
  flags.intensity = 3;
  auto sup = start(flags, {worker("a", opts)});
  auto a = probe.next_start();
  probe.crash(a.handle, boom());
  auto reason = probe.down_reason(sup);
  CHECK_EQ(reason, errc::restart_intensity_exceeded);
  CHECK_MESSAGE(render(reason).find("still broken") != std::string::npos,
                render(reason));
  // The crash is restart 1, failed attempts 1 and 2 make restarts 2 and 3,
  // failed attempt 3 would need a 4th: exactly `intensity` attempts.
  probe.drain();
  CHECK_EQ(probe.failed_starts(), 3u);
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a restart that fails once is retried and the child runs "
                  "again") {
  worker_options opts;
  opts.fail_start = [](size_t attempt) -> caf::error {
    if (attempt == 1)
      return caf::make_error(caf::sec::runtime_error, "flaky");
    return caf::none;
  };
  supervisor_flags flags;
  flags.intensity = 5;
  auto sup = start(flags, {worker("a", opts)});
  auto a = probe.next_start();
  probe.crash(a.handle, boom());
  auto again = probe.next_start();
  CHECK_EQ(probe.failed_starts(), 1u);
  auto info = child_of(sup, "a");
  CHECK_EQ(info.state, child_state::running);
  CHECK_EQ(info.handle, again.handle);
  CHECK_EQ(info.restarts, 1u);
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a one_for_all group restart that fails midway stops the "
                  "started part and retries the whole group") {
  worker_options opts;
  opts.fail_start = [](size_t attempt) -> caf::error {
    if (attempt == 1)
      return caf::make_error(caf::sec::runtime_error, "flaky");
    return caf::none;
  };
  supervisor_flags flags;
  flags.strategy = restart_strategy::one_for_all;
  flags.intensity = 5;
  auto sup = start(flags, {worker("a"), worker("b", opts), worker("c")});
  auto old = probe.next_starts({"a", "b", "c"});
  probe.crash(old[2].handle, boom());
  // Round 1: a starts, b fails, a is stopped again. Round 2: all start.
  auto a1 = probe.next_start();
  CHECK_EQ(a1.id, "a");
  CHECK_EQ(probe.gone_reason(a1.handle), caf::exit_reason::user_shutdown);
  auto fresh = probe.next_starts({"a", "b", "c"});
  auto xs = children_of(sup);
  REQUIRE_EQ(xs.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    CHECK_EQ(xs[i].handle, fresh[i].handle);
    CHECK_EQ(xs[i].state, child_state::running);
  }
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a nested supervisor that gives up is restarted by its "
                  "parent, which sees restart_intensity_exceeded") {
  supervisor_flags strict; // the sub-supervisor: no restart allowed
  strict.intensity = 0;
  supervisor_flags parent_flags;
  parent_flags.intensity = 1;
  auto parent = start(parent_flags,
                      {worker("x"), supervisor_spec("sub", strict, {worker("w")})});
  probe.next_start(); // x
  auto w = probe.next_start();
  auto sub = child_of(parent, "sub");
  REQUIRE(sub.handle);
  CHECK_EQ(sub.kind, child_kind::supervisor);
  probe.watch(sub.handle);
  probe.crash(w.handle, boom());
  CHECK_EQ(probe.down_reason(sub.handle), errc::restart_intensity_exceeded);
  auto w2 = probe.next_start(); // started by the new incarnation of "sub"
  CHECK_EQ(w2.id, "w");
  auto info = child_of(parent, "sub");
  CHECK_EQ(info.state, child_state::running);
  CHECK_NE(info.handle, sub.handle);
  CHECK_EQ(info.restarts, 1u);
  CHECK_EQ(info.last_exit_reason, errc::restart_intensity_exceeded);
  CHECK_EQ(child_of(parent, "x").restarts, 0u);
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "escalation climbs the tree: a parent that may not restart "
                  "its child supervisor gives up as well") {
  supervisor_flags strict;
  strict.intensity = 0;
  auto parent = start(strict, {worker("x"),
                               supervisor_spec("sub", strict, {worker("w")})});
  auto x = probe.next_start();
  auto w = probe.next_start();
  probe.crash(w.handle, boom());
  auto reason = probe.down_reason(parent);
  CHECK_EQ(reason, errc::restart_intensity_exceeded);
  CHECK_MESSAGE(render(reason).find("'sub'") != std::string::npos,
                render(reason));
  CHECK_EQ(probe.gone_reason(x.handle), caf::exit_reason::user_shutdown);
  probe.drain();
  CHECK(probe.starts().empty());
}
