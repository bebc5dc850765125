#include "shmbus/supervision/child_spec.hpp"

#include <caf/all.hpp>
#include <doctest/doctest.h>

#include "shmbus/supervision/child_counts.hpp"
#include "shmbus/supervision/child_info.hpp"

using namespace std::chrono_literals;
using namespace shmbus::supervision;

TEST_CASE("a worker gets 5 s to shut down and a supervisor waits without limit "
          "unless the spec says otherwise") {
  auto start = [](caf::actor_system&) { return caf::actor{}; };
  child_spec worker{"w", start};
  CHECK_EQ(worker.effective_shutdown(), shutdown_policy::timeout_after(5s));
  child_spec sup{"s", start, restart_type::permanent, child_kind::supervisor};
  CHECK_EQ(sup.effective_shutdown(), shutdown_policy::infinity());
  sup.shutdown = shutdown_policy::brutal_kill();
  CHECK_EQ(sup.effective_shutdown(), shutdown_policy::brutal_kill());
  CHECK_EQ(to_string(shutdown_policy::timeout_after(250ms)), "timeout(250ms)");
}

TEST_CASE("a start function may take or ignore the extra arguments") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  int seen = 0;
  child_spec plain{"plain", [&](caf::actor_system&) -> caf::expected<caf::actor> {
                     seen = -1;
                     return caf::sec::runtime_error;
                   }};
  child_spec with_args{"args", [&](caf::actor_system&, const caf::message& args)
                                 -> caf::expected<caf::actor> {
                         seen = args.get_as<int>(0);
                         return caf::sec::runtime_error;
                       }};
  CHECK_FALSE(plain.start(sys, caf::make_message(42)));
  CHECK_EQ(seen, -1);
  CHECK_FALSE(with_args.start(sys, caf::make_message(42)));
  CHECK_EQ(seen, 42);
}

TEST_CASE("child_info and child_counts render their fields") {
  child_info info;
  info.id = "db";
  info.restarts = 2;
  info.state = child_state::restarting;
  auto str = caf::deep_to_string(info);
  CHECK_NE(str.find("db"), std::string::npos);
  CHECK_NE(str.find("restarting"), std::string::npos);
  child_counts counts{3, 2, 1, 2};
  CHECK_EQ(caf::deep_to_string(counts), "shmbus::supervision::child_counts(3, 2, 1, 2)");
}
