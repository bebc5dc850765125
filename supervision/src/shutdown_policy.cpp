#include "shmbus/supervision/shutdown_policy.hpp"

#include <chrono>

namespace shmbus::supervision {

std::string to_string(shutdown_mode x) {
  switch (x) {
    case shutdown_mode::brutal_kill: return "brutal_kill";
    case shutdown_mode::timeout: return "timeout";
    case shutdown_mode::infinity: return "infinity";
  }
  return "unknown";
}

bool operator==(const shutdown_policy& x, const shutdown_policy& y) noexcept {
  if (x.mode != y.mode)
    return false;
  return x.mode != shutdown_mode::timeout || x.timeout == y.timeout;
}

std::string to_string(const shutdown_policy& x) {
  if (x.mode != shutdown_mode::timeout)
    return to_string(x.mode);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(x.timeout);
  return "timeout(" + std::to_string(ms.count()) + "ms)";
}

} // namespace shmbus::supervision
