#include "shmbus/supervision/restart_intensity.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using shmbus::supervision::restart_intensity;

TEST_CASE("restart intensity allows `intensity` restarts within the period "
          "and refuses one more") {
  restart_intensity x{3, 5s};
  auto t0 = restart_intensity::time_point{} + 100s;
  CHECK(x.add_restart(t0));
  CHECK(x.add_restart(t0 + 1s));
  CHECK(x.add_restart(t0 + 2s));
  CHECK_FALSE(x.add_restart(t0 + 3s));
}

TEST_CASE("restarts older than the period no longer count") {
  restart_intensity x{1, 5s};
  auto t0 = restart_intensity::time_point{} + 100s;
  CHECK(x.add_restart(t0));
  CHECK_EQ(x.restarts_within_period(t0 + 4s), 1u);
  CHECK_EQ(x.restarts_within_period(t0 + 5s), 0u);
  CHECK(x.add_restart(t0 + 6s));
  CHECK_FALSE(x.add_restart(t0 + 7s));
}

TEST_CASE("an intensity of zero refuses the first restart") {
  restart_intensity x{0, 5s};
  CHECK_FALSE(x.add_restart(restart_intensity::time_point{} + 1s));
}
