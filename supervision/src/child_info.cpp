#include "shmbus/supervision/child_info.hpp"

namespace shmbus::supervision {

std::string to_string(child_state x) {
  switch (x) {
    case child_state::running: return "running";
    case child_state::stopped: return "stopped";
    case child_state::restarting: return "restarting";
  }
  return "unknown";
}

} // namespace shmbus::supervision
