#include "shmbus/bus/errc.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/deep_to_string.hpp>

namespace shmbus::bus {

const char* to_string(errc x) noexcept {
  switch (x) {
    case errc::invalid_bus_name: return "invalid_bus_name";
    case errc::bus_not_found: return "bus_not_found";
    case errc::layout_mismatch: return "layout_mismatch";
    case errc::server_running: return "server_running";
    case errc::clients_alive: return "clients_alive";
    case errc::bus_full: return "bus_full";
    case errc::not_attached: return "not_attached";
    case errc::message_too_large: return "message_too_large";
    case errc::unregistered_type: return "unregistered_type";
    case errc::inbox_full: return "inbox_full";
    case errc::peer_lost: return "peer_lost";
    case errc::corrupt_record: return "corrupt_record";
    case errc::deserialization_failed: return "deserialization_failed";
    case errc::name_not_found: return "name_not_found";
    case errc::name_in_use: return "name_in_use";
    case errc::name_table_full: return "name_table_full";
    case errc::interface_mismatch: return "interface_mismatch";
    case errc::too_many_requests: return "too_many_requests";
    case errc::pool_exhausted: return "pool_exhausted";
  }
  return "unknown";
}

void add_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(
    errc_category, [](uint8_t code, caf::atom_value, const caf::message& ctx) {
      std::string result = "shmbus::";
      result += to_string(static_cast<errc>(code));
      if (!ctx.empty()) {
        // The description comes first; further elements (an exit code, a
        // signal number) are data for programs, already in the text.
        result += ": ";
        if (ctx.match_element<std::string>(0))
          result += ctx.get_as<std::string>(0);
        else
          result += caf::deep_to_string(ctx);
      }
      return result;
    });
}

} // namespace shmbus::bus
