// Starting a supervisor: order, start failures, validation.
#include <doctest/doctest.h>

#include "supervisor_fixture.hpp"

using namespace shmbus;
using namespace shmbus::supervision;
using namespace shmbus::test;

TEST_CASE_FIXTURE(supervisor_fixture,
                  "start_supervisor starts the children in order and reports "
                  "them running") {
  auto sup = start({}, {worker("a"), worker("b"), worker("c")});
  auto started = probe.next_starts({"a", "b", "c"});
  auto xs = children_of(sup);
  REQUIRE_EQ(xs.size(), 3u);
  for (size_t i = 0; i < xs.size(); ++i) {
    CHECK_EQ(xs[i].id, started[i].id);
    CHECK_EQ(xs[i].handle, started[i].handle);
    CHECK_EQ(xs[i].state, child_state::running);
    CHECK_EQ(xs[i].restarts, 0u);
    CHECK_FALSE(xs[i].last_exit_reason);
  }
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a failing second child stops the first and start_supervisor "
                  "returns an error naming the child and its cause") {
  worker_options fails;
  fails.fail_start = [](size_t) {
    return caf::make_error(caf::sec::runtime_error, "disk full");
  };
  auto sup = start_supervisor(sys, {},
                              {worker("a"), worker("b", fails), worker("c")});
  REQUIRE_FALSE(sup);
  CHECK_EQ(sup.error(), errc::child_start_failed);
  auto text = render(sup.error());
  CHECK_MESSAGE(text.find("'b'") != std::string::npos, text);
  CHECK_MESSAGE(text.find("disk full") != std::string::npos, text);
  // "a" started and was stopped the orderly way; "c" never started.
  auto a = probe.next_start();
  CHECK_EQ(a.id, "a");
  CHECK_EQ(probe.gone_reason(a.handle), caf::exit_reason::user_shutdown);
  CHECK_EQ(probe.failed_starts(), 1u);
  probe.drain();
  CHECK(probe.starts().empty());
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a start function that throws fails the start with the "
                  "exception's message") {
  child_spec thrower{"t", [](caf::actor_system&) -> caf::expected<caf::actor> {
                       throw std::runtime_error("no config file");
                     }};
  auto sup = start_supervisor(sys, {}, {worker("a"), thrower});
  REQUIRE_FALSE(sup);
  CHECK_EQ(sup.error(), errc::child_start_failed);
  auto text = render(sup.error());
  CHECK_MESSAGE(text.find("'t'") != std::string::npos, text);
  CHECK_MESSAGE(text.find("no config file") != std::string::npos, text);
  CHECK_EQ(probe.gone_reason(probe.next_start().handle),
           caf::exit_reason::user_shutdown);
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a nested supervisor that fails to start fails its parent's "
                  "start with the whole chain of causes") {
  worker_options fails;
  fails.fail_start = [](size_t) {
    return caf::make_error(caf::sec::runtime_error, "port in use");
  };
  auto sup = start_supervisor(
    sys, {},
    {worker("a"), supervisor_spec("sub", {}, {worker("b"), worker("c", fails)})});
  REQUIRE_FALSE(sup);
  CHECK_EQ(sup.error(), errc::child_start_failed);
  auto text = render(sup.error());
  CHECK_MESSAGE(text.find("'sub'") != std::string::npos, text);
  CHECK_MESSAGE(text.find("'c'") != std::string::npos, text);
  CHECK_MESSAGE(text.find("port in use") != std::string::npos, text);
  // Stopped in reverse order: b (inside sub) first, then a.
  auto started = probe.next_starts({"a", "b"});
  CHECK_EQ(probe.gone_reason(started[1].handle), caf::exit_reason::user_shutdown);
  CHECK_EQ(probe.gone_reason(started[0].handle), caf::exit_reason::user_shutdown);
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "invalid flags and specs are refused before anything starts") {
  SUBCASE("duplicate ids") {
    auto sup = start_supervisor(sys, {}, {worker("a"), worker("a")});
    REQUIRE_FALSE(sup);
    CHECK_EQ(sup.error(), caf::sec::invalid_argument);
  }
  SUBCASE("a spec without start function") {
    child_spec empty;
    empty.id = "x";
    auto sup = start_supervisor(sys, {}, {empty});
    REQUIRE_FALSE(sup);
    CHECK_EQ(sup.error(), caf::sec::invalid_argument);
  }
  SUBCASE("simple_one_for_one with two templates") {
    supervisor_flags flags;
    flags.strategy = restart_strategy::simple_one_for_one;
    auto sup = start_supervisor(sys, flags, {worker("a"), worker("b")});
    REQUIRE_FALSE(sup);
    CHECK_EQ(sup.error(), caf::sec::invalid_argument);
  }
  SUBCASE("backoff with min above max") {
    supervisor_flags flags;
    flags.backoff = backoff_options{};
    flags.backoff->min_delay = std::chrono::seconds{2};
    flags.backoff->max_delay = std::chrono::seconds{1};
    auto sup = start_supervisor(sys, flags, {worker("a")});
    REQUIRE_FALSE(sup);
    CHECK_EQ(sup.error(), caf::sec::invalid_argument);
  }
  SUBCASE("a non-positive period") {
    supervisor_flags flags;
    flags.period = caf::timespan::zero();
    auto sup = start_supervisor(sys, flags, {worker("a")});
    REQUIRE_FALSE(sup);
    CHECK_EQ(sup.error(), caf::sec::invalid_argument);
  }
  probe.drain();
  CHECK(probe.starts().empty());
}
