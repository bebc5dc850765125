// shmbus::log: records carry level, time, component, event and fields; the
// threshold drops what is below it; a sink of the program's replaces
// stderr; the default format is one logfmt line that quotes what needs it.
#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "shmbus/log/logger.hpp"

using namespace shmbus;

namespace {

/// Collects records while it lives, then restores the defaults.
struct capture {
  capture() {
    log::set_level(log::level::debug);
    log::set_sink([this](const log::record& x) { records.push_back(x); });
  }
  ~capture() {
    log::set_sink({});
    log::set_level(log::level::info);
  }
  std::vector<log::record> records;
};

} // namespace

TEST_CASE("a sink set by the program receives each record with its fields and a time") {
  capture c;
  log::write(log::level::warning, "bus", "bus_error", "a record was dropped",
             {{"node", "wallet"}, {"kind", "malformed/message"}});
  REQUIRE_EQ(c.records.size(), 1u);
  auto& r = c.records.front();
  CHECK_EQ(r.severity, log::level::warning);
  CHECK_EQ(r.component, "bus");
  CHECK_EQ(r.event, "bus_error");
  CHECK_EQ(r.get("node"), "wallet");
  CHECK_EQ(r.get("missing"), "");
  CHECK(r.time.time_since_epoch().count() > 0);
}

TEST_CASE("records below the threshold are dropped, off drops all") {
  capture c;
  log::set_level(log::level::warning);
  CHECK_FALSE(log::enabled(log::level::info));
  log::write(log::level::info, "supervision", "child_started", "started");
  log::write(log::level::error, "supervision", "intensity_exceeded", "gave up");
  REQUIRE_EQ(c.records.size(), 1u);
  CHECK_EQ(c.records.front().event, "intensity_exceeded");
  log::set_level(log::level::off);
  log::write(log::level::error, "supervision", "intensity_exceeded", "gave up");
  CHECK_EQ(c.records.size(), 1u);
}

TEST_CASE("levels are named as the log-level option takes them") {
  for (auto x : {log::level::debug, log::level::info, log::level::warning, log::level::error,
                 log::level::off})
    CHECK_EQ(log::parse_level(log::to_string(x)), x);
  CHECK_FALSE(log::parse_level("verbose"));
}

TEST_CASE("the default format is one logfmt line that quotes values with spaces") {
  log::record r;
  r.severity = log::level::info;
  r.time = std::chrono::system_clock::time_point{std::chrono::seconds{1'700'000'000}};
  r.component = "supervision";
  r.event = "child_terminated";
  r.message = "child 'storage' terminated";
  r.fields = {{"child", "storage"}, {"reason", "killed by \"signal\" 9"}, {"empty", ""}};
  CHECK_EQ(log::format(r),
           "2023-11-14T22:13:20.000000Z info supervision: child 'storage' terminated "
           "event=child_terminated child=storage reason=\"killed by \\\"signal\\\" 9\" "
           "empty=\"\"");
}

TEST_CASE("a sink that throws does not fail the writer") {
  log::set_sink([](const log::record&) { throw std::runtime_error("full disk"); });
  CHECK_NOTHROW(log::write(log::level::error, "bus", "x", "y"));
  log::set_sink({});
}
