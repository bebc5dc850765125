#include "shmbus/supervision/errc.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/deep_to_string.hpp>

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
  cfg.add_error_category(
    errc_category, [](uint8_t code, caf::atom_value, const caf::message& ctx) {
      std::string result = "shmbus::supervision::";
      result += to_string(static_cast<errc>(code));
      // The description comes first; further elements would be data for
      // programs, already in the text.
      if (!ctx.empty() && ctx.match_element<std::string>(0))
        result += ": " + ctx.get_as<std::string>(0);
      else if (!ctx.empty())
        result += ": " + caf::deep_to_string(ctx);
      return result;
    });
}

} // namespace shmbus::supervision
