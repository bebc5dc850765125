#include "shmbus/supervision/child_spec.hpp"

namespace shmbus::supervision {

std::string to_string(restart_type x) {
  switch (x) {
    case restart_type::permanent: return "permanent";
    case restart_type::transient: return "transient";
    case restart_type::temporary: return "temporary";
  }
  return "unknown";
}

std::string to_string(child_kind x) {
  switch (x) {
    case child_kind::worker: return "worker";
    case child_kind::supervisor: return "supervisor";
  }
  return "unknown";
}

shutdown_policy child_spec::effective_shutdown() const noexcept {
  if (shutdown)
    return *shutdown;
  if (kind == child_kind::supervisor)
    return shutdown_policy::infinity();
  return shutdown_policy::timeout_after(defaults::worker_shutdown_timeout);
}

} // namespace shmbus::supervision
