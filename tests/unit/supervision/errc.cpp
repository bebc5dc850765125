// The supervisor's error category: its own atom, rendered by name once
// configure() registered it, and matched the CAF way.
#include <doctest/doctest.h>

#include <caf/all.hpp>

#include "shmbus/supervision/errc.hpp"
#include "shmbus/supervision/supervisor.hpp"

using namespace shmbus::supervision;

TEST_CASE("a supervision error renders as its name and description after configure()") {
  caf::actor_system_config cfg;
  configure(cfg);
  caf::actor_system sys{cfg};
  auto err = make_error(errc::child_not_found, "supervisor has no child 'db'");
  CHECK_EQ(err.category(), errc_category);
  CHECK(err == errc::child_not_found);
  CHECK(err != errc::child_running);
  CHECK_EQ(sys.render(err),
           "shmbus::supervision::child_not_found: supervisor has no child 'db'");
  CHECK_EQ(sys.render(make_error(errc::child_running)),
           "shmbus::supervision::child_running");
}

TEST_CASE("every supervision error code has a name") {
  for (auto x : {errc::child_start_failed, errc::restart_intensity_exceeded,
                 errc::child_not_found, errc::child_already_exists,
                 errc::child_running})
    CHECK_NE(std::string{to_string(x)}, "unknown");
}
