// Pieces of the supervisor's error texts, so that they read alike.
#pragma once

#include <chrono>
#include <string>

#include <caf/timespan.hpp>

namespace shmbus::supervision {

/// "'db'".
inline std::string quoted(const std::string& id) {
  return "'" + id + "'";
}

/// "5000 ms".
inline std::string in_ms(caf::timespan x) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  return std::to_string(duration_cast<milliseconds>(x).count()) + " ms";
}

} // namespace shmbus::supervision
