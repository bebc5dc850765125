#include "shmbus/actors/errc.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/deep_to_string.hpp>

#include "shmbus/supervision/supervisor.hpp"

namespace shmbus::actors {

const char* to_string(errc x) noexcept {
  switch (x) {
    case errc::module_exited: return "module_exited";
    case errc::module_killed: return "module_killed";
    case errc::module_start_timeout: return "module_start_timeout";
    case errc::module_hung: return "module_hung";
    case errc::launcher_running: return "launcher_running";
  }
  return "unknown";
}

void add_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(
    errc_category, [](uint8_t code, caf::atom_value, const caf::message& ctx) {
      std::string result = "shmbus::actors::";
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

void configure(caf::actor_system_config& cfg) {
  supervision::configure(cfg);
  add_error_category(cfg);
}

} // namespace shmbus::actors
