// Tests that run processes as other users: what stops them on this machine.
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include <unistd.h>

namespace shmbus::test {

/// Empty if processes of another user can run `probe` (a harmless command
/// line of the program the test will run as them); otherwise why not: not
/// root, no setpriv(1), or a build other users cannot reach (one under
/// /root, say), which the test then reports as skipped.
inline std::string why_no_other_user(const std::vector<std::string>& probe) {
  if (::geteuid() != 0)
    return "running processes as other users needs root";
  if (std::system("command -v setpriv >/dev/null 2>&1") != 0)
    return "running processes as other users needs setpriv(1)";
  std::string cmd = "setpriv --reuid=65534 --regid=65534 --clear-groups --";
  for (auto& arg : probe)
    cmd += " '" + arg + "'";
  cmd += " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0)
    return "user 65534 cannot run " + probe.front()
           + " here (a build directory other users cannot reach, such as one under /root)";
  return {};
}

} // namespace shmbus::test
