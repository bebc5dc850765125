// The path of a program installed next to the running one (the examples
// start nebulas-module from their own directory).
#pragma once

#include <string>

#include <unistd.h>

namespace nebulas {

inline std::string sibling_program(const std::string& name) {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  std::string self = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  auto slash = self.rfind('/');
  return slash == std::string::npos ? name : self.substr(0, slash + 1) + name;
}

} // namespace nebulas
