#include "shmbus/process/process_status.hpp"

#include <cstring>

namespace shmbus::process {

process_status process_status::from_siginfo(const siginfo_t& info) noexcept {
  switch (info.si_code) {
    case CLD_EXITED: return exited(info.si_status);
    case CLD_KILLED:
    case CLD_DUMPED: return signaled(info.si_status);
    default: return {};
  }
}

bool operator==(const process_status& x, const process_status& y) noexcept {
  return x.how == y.how && x.value == y.value;
}

std::string to_string(const process_status& x) {
  switch (x.how) {
    case process_status::kind::exited:
      return "exited with code " + std::to_string(x.value);
    case process_status::kind::signaled:
      return "killed by signal " + std::to_string(x.value) + " ("
             + signal_name(x.value) + ")";
    case process_status::kind::unknown: break;
  }
  return "ended (status unknown: reaped elsewhere)";
}

std::string signal_name(int sig) {
  // sigabbrev_np (glibc 2.32) gives "KILL" for 9 and null for unknown ones.
  if (auto* abbrev = sigabbrev_np(sig))
    return std::string{"SIG"} + abbrev;
  return "signal " + std::to_string(sig);
}

} // namespace shmbus::process
