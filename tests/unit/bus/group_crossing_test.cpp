// Only groups of the shmbus module cross the bus: shm_group_module::crossing
// finds a group of another module wherever it is in a message (its fast
// path reads CAF's type token, which covers the first five elements).
#include <doctest/doctest.h>

#include <string>

#include <caf/all.hpp>

#include "shm_group_module.hpp"

using shmbus::bus::shm_group_module;

TEST_CASE("a group of another module is refused at any position of a message") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto local = sys.groups().get_local("crossing-test");
  CHECK(shm_group_module::crossing(caf::make_message(int32_t{1}, local)));
  CHECK(shm_group_module::crossing(caf::make_message(local, std::string{"x"})));
  CHECK(shm_group_module::crossing(
    caf::make_message(int32_t{1}, int32_t{2}, int32_t{3}, int32_t{4}, local)));
  // Past the type token's five elements.
  CHECK(shm_group_module::crossing(
    caf::make_message(int32_t{1}, int32_t{2}, int32_t{3}, int32_t{4}, int32_t{5}, local)));
  caf::message_builder built;
  built.append(std::string{"a"}).append(local);
  CHECK(shm_group_module::crossing(built.to_message()));
}

TEST_CASE("messages without groups cross") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  CHECK_FALSE(shm_group_module::crossing(caf::make_message()));
  CHECK_FALSE(shm_group_module::crossing(
    caf::make_message(caf::atom("item"), uint64_t{1}, std::string(64, 'x'))));
  CHECK_FALSE(shm_group_module::crossing(caf::make_message(
    int32_t{1}, int32_t{2}, int32_t{3}, int32_t{4}, int32_t{5}, int32_t{6}, int32_t{7})));
  CHECK_FALSE(shm_group_module::crossing(caf::make_message(caf::group{})));
}
