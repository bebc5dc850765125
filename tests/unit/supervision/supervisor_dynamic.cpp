// simple_one_for_one: children started at run time from one template.
#include <doctest/doctest.h>

#include "supervisor_fixture.hpp"

using namespace shmbus;
using namespace shmbus::supervision;
using namespace shmbus::test;

namespace {

supervisor_flags dynamic_flags() {
  supervisor_flags flags;
  flags.strategy = restart_strategy::simple_one_for_one;
  flags.intensity = 10;
  return flags;
}

} // namespace

TEST_CASE_FIXTURE(supervisor_fixture,
                  "simple_one_for_one starts nothing at first, then children "
                  "from the template with their extra arguments") {
  auto sup = start(dynamic_flags(), {worker("w")});
  probe.drain();
  CHECK(probe.starts().empty());
  CHECK(children_of(sup).empty());
  auto one = start_child(self(), sup, caf::make_message(1));
  REQUIRE(one);
  auto two = start_child(self(), sup, caf::make_message(2, std::string{"x"}));
  REQUIRE(two);
  auto s1 = probe.next_start();
  auto s2 = probe.next_start();
  CHECK_EQ(s1.handle, *one);
  CHECK_EQ(s2.handle, *two);
  REQUIRE(s1.args.match_elements<int>());
  CHECK_EQ(s1.args.get_as<int>(0), 1);
  REQUIRE((s2.args.match_elements<int, std::string>()));
  CHECK_EQ(s2.args.get_as<std::string>(1), "x");
  auto xs = children_of(sup);
  REQUIRE_EQ(xs.size(), 2u);
  CHECK_EQ(xs[0].id, "w#1");
  CHECK_EQ(xs[1].id, "w#2");
  CHECK_EQ(xs[0].handle, *one);
  auto counts = count_children(self(), sup);
  REQUIRE(counts);
  CHECK_EQ(*counts, child_counts{1, 2, 0, 2});
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a failed dynamic child restarts alone with its own "
                  "arguments") {
  auto sup = start(dynamic_flags(), {worker("w")});
  REQUIRE(start_child(self(), sup, caf::make_message(1)));
  REQUIRE(start_child(self(), sup, caf::make_message(2)));
  auto s1 = probe.next_start();
  auto s2 = probe.next_start();
  probe.crash(s2.handle, boom());
  auto again = probe.next_start();
  REQUIRE(again.args.match_elements<int>());
  CHECK_EQ(again.args.get_as<int>(0), 2);
  auto xs = children_of(sup);
  REQUIRE_EQ(xs.size(), 2u);
  CHECK_EQ(xs[0].handle, s1.handle);
  CHECK_EQ(xs[1].id, "w#2");
  CHECK_EQ(xs[1].handle, again.handle);
  CHECK_EQ(xs[1].restarts, 1u);
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a dynamic child that is not restarted disappears") {
  auto flags = dynamic_flags();
  auto spec = worker("w");
  spec.restart = restart_type::transient;
  auto sup = start(flags, {spec});
  REQUIRE(start_child(self(), sup, caf::make_message(1)));
  REQUIRE(start_child(self(), sup, caf::make_message(2)));
  auto s1 = probe.next_start();
  auto s2 = probe.next_start();
  probe.finish(s1.handle);
  CHECK_FALSE(probe.gone_reason(s1.handle));
  auto xs = children_of(sup);
  REQUIRE_EQ(xs.size(), 1u);
  CHECK_EQ(xs[0].handle, s2.handle);
  auto counts = count_children(self(), sup);
  REQUIRE(counts);
  CHECK_EQ(*counts, child_counts{1, 1, 0, 1});
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "terminate_child stops and removes a dynamic child named by "
                  "handle or generated id") {
  auto sup = start(dynamic_flags(), {worker("w")});
  auto one = start_child(self(), sup, caf::make_message(1));
  auto two = start_child(self(), sup, caf::make_message(2));
  REQUIRE(one);
  REQUIRE(two);
  CHECK_FALSE(terminate_child(self(), sup, *one));
  CHECK_EQ(probe.gone_reason(*one), caf::exit_reason::user_shutdown);
  CHECK_FALSE(terminate_child(self(), sup, "w#2"));
  CHECK_EQ(probe.gone_reason(*two), caf::exit_reason::user_shutdown);
  CHECK(children_of(sup).empty());
  CHECK_EQ(terminate_child(self(), sup, *one), errc::child_not_found);
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a simple_one_for_one supervisor stops all its dynamic "
                  "children when it exits, at once") {
  worker_options stubborn;
  stubborn.ignore_shutdown = true; // only the kill after the timeout stops it
  auto spec = worker("w", stubborn);
  spec.shutdown = shutdown_policy::timeout_after(std::chrono::milliseconds{300});
  auto sup = start(dynamic_flags(), {spec});
  std::vector<caf::actor> kids;
  for (int i = 0; i < 6; ++i) {
    auto kid = start_child(self(), sup, caf::make_message(i));
    REQUIRE(kid);
    kids.push_back(*kid);
  }
  auto t0 = steady::now();
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  CHECK_EQ(probe.down_reason(sup), caf::exit_reason::user_shutdown);
  auto elapsed = steady::now() - t0;
  for (auto& kid : kids)
    CHECK_EQ(probe.gone_reason(kid), caf::exit_reason::kill);
  // One shared timeout, not one per child (which would take >= 1.8 s).
  CHECK_MESSAGE(elapsed < std::chrono::milliseconds{1800},
                "stopping took " << elapsed.count() << " ns");
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "start_child takes extra arguments only for "
                  "simple_one_for_one and a spec only for the others") {
  auto dynamic = start(dynamic_flags(), {worker("w")});
  auto r1 = start_child(self(), dynamic, worker("x"));
  REQUIRE_FALSE(r1);
  CHECK_EQ(r1.error(), errc::child_start_failed);
  auto fixed = start({}, {worker("a")});
  auto r2 = start_child(self(), fixed, caf::make_message(1));
  REQUIRE_FALSE(r2);
  CHECK_EQ(r2.error(), errc::child_start_failed);
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a dynamic child whose start fails is not kept") {
  worker_options opts;
  opts.fail_start = [](size_t attempt) -> caf::error {
    if (attempt == 0)
      return caf::make_error(caf::sec::runtime_error, "bad args");
    return caf::none;
  };
  auto sup = start(dynamic_flags(), {worker("w", opts)});
  auto bad = start_child(self(), sup, caf::make_message(0));
  REQUIRE_FALSE(bad);
  CHECK_EQ(bad.error(), errc::child_start_failed);
  CHECK_MESSAGE(render(bad.error()).find("'w#1'") != std::string::npos,
                render(bad.error()));
  CHECK(children_of(sup).empty());
  auto good = start_child(self(), sup, caf::make_message(1));
  REQUIRE(good);
  CHECK_EQ(children_of(sup).at(0).id, "w#2");
}
