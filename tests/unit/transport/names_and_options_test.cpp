// Validation of bus names, idle strategies and limits.
#include <doctest/doctest.h>

#include "shmbus/transport/bus_name.hpp"
#include "shmbus/transport/idle_strategy.hpp"
#include "shmbus/transport/segment.hpp"

using namespace shmbus::transport;

TEST_CASE("bus names outside [A-Za-z0-9._-]{1,64} are refused with the rule in the message") {
  for (std::string good : {std::string{"a"}, std::string{"demo"}, std::string{"node-1.test_2"}, std::string(64, 'x')})
    CHECK_FALSE(validate_bus_name(good).has_value());
  for (std::string bad : {std::string{}, std::string(65, 'x'), std::string{"a/b"},
                          std::string{"a b"}, std::string{".."}, std::string{"é"},
                          std::string{"x\n"}}) {
    auto err = validate_bus_name(bad);
    REQUIRE(err.has_value());
    CHECK(err->code == errc::invalid_bus_name);
    CHECK(err->message.find("[A-Za-z0-9._-]") != std::string::npos);
  }
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
