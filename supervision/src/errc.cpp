#include "shmbus/supervision/errc.hpp"

#include "shmbus/supervision/error_category.hpp"

namespace shmbus::supervision {

const char* to_string(errc x) noexcept {
  switch (x) {
    case errc::child_start_failed: return "child_start_failed";
    case errc::restart_intensity_exceeded: return "restart_intensity_exceeded";
    case errc::child_not_found: return "child_not_found";
    case errc::child_already_exists: return "child_already_exists";
    case errc::child_running: return "child_running";
  }
  return "unknown";
}

void add_error_category(caf::actor_system_config& cfg) {
  add_named_error_category<errc>(cfg, errc_category, "shmbus::supervision::");
}

} // namespace shmbus::supervision
