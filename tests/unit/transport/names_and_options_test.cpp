// Validation of bus names (and the file names derived from them), idle
// strategies and limits.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "shmbus/transport/bus_name.hpp"
#include "shmbus/transport/idle_strategy.hpp"
#include "shmbus/transport/segment.hpp"

using namespace shmbus::transport;

TEST_CASE("bus names outside [A-Za-z0-9._-]{1,64} are refused with the rule in the message") {
  for (std::string good : {std::string{"a"}, std::string{"demo"}, std::string{"node-1.test_2"},
                           std::string(64, 'x'), std::string{"X.lock"}, std::string{"..."}})
    CHECK_FALSE(validate_bus_name(good).has_value());
  for (std::string bad : {std::string{}, std::string(65, 'x'), std::string{"a/b"},
                          std::string{"a b"}, std::string{" "}, std::string{"."},
                          std::string{".."}, std::string{"../../tmp/x"}, std::string{"é"},
                          std::string{"x\n"}, std::string{"x\0y", 3}, std::string{"tab\t"}}) {
    auto err = validate_bus_name(bad);
    REQUIRE(err.has_value());
    CHECK(err->code == errc::invalid_bus_name);
    CHECK(err->message.find("[A-Za-z0-9._-]") != std::string::npos);
  }
}

TEST_CASE("the files of two different buses never have the same name") {
  // Every derived file is prefix + bus + a suffix of one fixed length, so
  // equal paths mean equal buses; try the names built to collide.
  std::vector<std::string> names{"X", "X.lock", "X.sock", "X.lock.lock", "X.sock.lock", "Xlock",
                                 "shmbus-X", "X.", ".lock", "lock", "a", "a.sock.sock"};
  std::set<std::string> paths;
  for (auto& name : names) {
    REQUIRE_FALSE(validate_bus_name(name).has_value());
    CHECK(paths.insert(lock_file_path(name)).second);
    CHECK(paths.insert(socket_path(name)).second);
    CHECK(lock_file_path(name).rfind("/dev/shm/shmbus-", 0) == 0);
    CHECK(bus_of_file_name(lock_file_path(name).substr(9)) == name);
    CHECK(bus_of_file_name(socket_path(name).substr(9)) == name);
  }
  // The old attack: `clean X.lock` removed bus X's lock file.
  CHECK(lock_file_path("X.lock") != lock_file_path("X"));
  CHECK(socket_path("X.lock") != lock_file_path("X"));
  CHECK(lock_file_path("X.lock") == "/dev/shm/shmbus-X.lock.lock");
}

TEST_CASE("only bus files are taken for buses when listing /dev/shm") {
  CHECK(bus_of_file_name("shmbus-demo.lock") == "demo");
  CHECK(bus_of_file_name("shmbus-demo.sock") == "demo");
  CHECK(bus_of_file_name("shmbus-X.lock.sock") == "X.lock");
  CHECK_FALSE(bus_of_file_name("shmbus-demo").has_value()); // a segment of layout 1
  CHECK_FALSE(bus_of_file_name("shmbus-.lock").has_value());
  CHECK_FALSE(bus_of_file_name("shmbus-a b.lock").has_value());
  CHECK_FALSE(bus_of_file_name("other-demo.lock").has_value());
}

TEST_CASE("idle strategies parse from their text form and back") {
  CHECK(parse_idle_strategy("busy-spin")->kind == idle_kind::busy_spin);
  CHECK(parse_idle_strategy("park")->kind == idle_kind::park);
  auto adaptive = parse_idle_strategy("adaptive:30:70");
  REQUIRE(adaptive.has_value());
  CHECK(adaptive->spin == std::chrono::microseconds{30});
  CHECK(adaptive->yield == std::chrono::microseconds{70});
  CHECK(to_string(*adaptive) == "adaptive:30:70");
  CHECK_FALSE(parse_idle_strategy("spin").has_value());
  CHECK_FALSE(parse_idle_strategy("adaptive:x:1").has_value());
}

TEST_CASE("bus limits that cannot work are refused with the reason") {
  bus_limits l;
  CHECK_FALSE(segment::validate_limits(l).has_value());
  l.inbox_bytes = 5000;
  CHECK(segment::validate_limits(l)->message.find("power of two") != std::string::npos);
  l = bus_limits{};
  l.max_message_bytes = l.inbox_bytes;
  CHECK(segment::validate_limits(l)->message.find("raise the inbox size") != std::string::npos);
  l = bus_limits{};
  l.node_slots = 1;
  CHECK(segment::validate_limits(l).has_value());
}
