// How much an event matters, from debug to error; `off` as a threshold
// writes nothing. Pure functions: never block, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace shmbus::log {

enum class level : uint8_t {
  debug = 0,
  info = 1,    ///< what an operator wants to see: a child restarted, a peer lost
  warning = 2, ///< something went wrong and was handled: a dropped record
  error = 3,   ///< something went wrong and was not: a supervisor gave up
  off = 4,     ///< as a threshold: nothing is written
};

/// "debug", "info", "warning", "error", "off".
const char* to_string(level x) noexcept;

/// The level named `text` (as to_string() writes it); nullopt otherwise.
std::optional<level> parse_level(std::string_view text) noexcept;

} // namespace shmbus::log
