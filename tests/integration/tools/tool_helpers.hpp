// Running the built tools (shmbusctl, shmbus-launch) from the tests, as an
// operator would, and reading what they print.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "child_process.hpp"

namespace shmbus::test {

using namespace std::chrono_literals;

struct tool_result {
  int code = -1;
  std::string out;
};

/// Runs shmbusctl with `args` to its end; its stdout as one text.
inline tool_result shmbusctl(const std::vector<std::string>& args) {
  auto child = child_process::run(SHMBUS_SHMBUSCTL, args);
  tool_result result;
  while (auto line = child.read_line(10s))
    result.out += *line + "\n";
  auto status = child.wait(10s);
  REQUIRE_MESSAGE(status, "shmbusctl did not end");
  if (status->exited)
    result.code = status->code;
  return result;
}

/// `shmbusctl <command> BUS --json`, parsed; fails the test unless it
/// exits 0 with valid JSON.
inline nlohmann::json shmbusctl_json(const std::string& command, const std::string& bus) {
  auto r = shmbusctl({command, bus, "--json"});
  REQUIRE_MESSAGE(r.code == 0, "shmbusctl " << command << " failed:\n" << r.out);
  auto doc = nlohmann::json::parse(r.out, nullptr, false);
  REQUIRE_MESSAGE(!doc.is_discarded(), "not JSON:\n" << r.out);
  return doc;
}

/// The supervisor named `name` in the trees of `supervisors` (a JSON array
/// of shmbusctl's), searched through nested ones; null if none.
inline nlohmann::json find_supervisor(const nlohmann::json& supervisors,
                                      const std::string& name) {
  for (auto& s : supervisors) {
    if (s.value("name", "") == name)
      return s;
    for (auto& c : s["children"])
      if (c.contains("supervisor")) {
        auto nested = find_supervisor(nlohmann::json::array({c["supervisor"]}), name);
        if (!nested.is_null())
          return nested;
      }
  }
  return nullptr;
}

} // namespace shmbus::test
