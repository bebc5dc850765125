// Text checks shared by the tests.
#pragma once

#include <string>

namespace shmbus::test {

/// Whether `part` occurs in `text`, for CHECKs on error messages and output.
inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace shmbus::test
