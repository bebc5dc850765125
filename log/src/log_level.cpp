#include "shmbus/log/log_level.hpp"

namespace shmbus::log {

const char* to_string(level x) noexcept {
  switch (x) {
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warning: return "warning";
    case level::error: return "error";
    case level::off: return "off";
  }
  return "unknown";
}

std::optional<level> parse_level(std::string_view text) noexcept {
  for (auto x : {level::debug, level::info, level::warning, level::error, level::off})
    if (text == to_string(x))
      return x;
  return std::nullopt;
}

} // namespace shmbus::log
