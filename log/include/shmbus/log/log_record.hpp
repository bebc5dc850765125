// One event: when, how bad, who (component), what (event name), a sentence
// for people and key=value fields for programs. Value type: as thread-safe
// as a std::string.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "shmbus/log/log_level.hpp"

namespace shmbus::log {

struct field {
  std::string key;
  std::string value;
};

struct record {
  level severity = level::info;
  std::chrono::system_clock::time_point time;
  /// The layer that writes it: "bus", "supervision", "actors", "launcher".
  std::string component;
  /// What happened, stable for programs: "child_restarted", "peer_lost", ...
  std::string event;
  /// The same for people; names the thing and, for problems, the remedy.
  std::string message;
  std::vector<field> fields;

  /// The value of field `key`; empty if the record has none.
  std::string_view get(std::string_view key) const noexcept;
};

/// "2026-11-30T10:15:02.123456Z warning bus: <message> key=value ...": one
/// line, no newline; values with spaces or quotes are quoted (logfmt).
std::string format(const record& x);

/// The UTC time `t` as "2026-11-30T10:15:02.123456Z".
std::string format_time(std::chrono::system_clock::time_point t);

} // namespace shmbus::log
