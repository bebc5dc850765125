// Durations in error messages, in whole milliseconds ("250 ms").
#pragma once

#include <chrono>
#include <string>

namespace shmbus::transport::detail {

inline std::string ms_text(std::chrono::nanoseconds d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count())
         + " ms";
}

} // namespace shmbus::transport::detail
