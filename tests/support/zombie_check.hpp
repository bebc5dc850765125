// The zombie check of the tests that spawn processes: after any test, no
// child of the test process may be left unreaped.
#pragma once

#include <string>
#include <vector>

#include <sys/types.h>
#include <unistd.h>

#include "shmbus/process/process_tree.hpp"

namespace shmbus::test {

/// Children of this process that are zombies: must be empty after any test.
inline std::vector<pid_t> zombie_children() {
  std::vector<pid_t> result;
  for (auto& x : process::children_of(::getpid()))
    if (x.state == 'Z')
      result.push_back(x.pid);
  return result;
}

inline std::string render_pids(const std::vector<pid_t>& xs) {
  std::string result;
  for (auto x : xs)
    result += (result.empty() ? "" : " ") + std::to_string(x);
  return result;
}

} // namespace shmbus::test
