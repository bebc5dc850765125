#include "error_mapping.hpp"

#include <cstdlib>
#include <cxxabi.h>

#include <caf/actor_system.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

#include "shmbus/bus/errc.hpp"

namespace shmbus::bus {

caf::error stopped_error(const std::string& node_name, const std::string& bus) {
  return make_error(errc::not_attached, "bus node '" + node_name + "' of bus '" + bus
                                          + "' has stopped; start a new node to use the bus");
}

caf::error from_transport(const transport::error& err) {
  // errc::evicted (this node's own slot no longer says alive) is
  // not_attached; the eviction policy itself runs from the loss event the
  // transport reports for this node (bus_core::evicted).
  using transport::errc;
  auto code = bus::errc::peer_lost;
  switch (err.code) {
    case errc::invalid_bus_name: code = bus::errc::invalid_bus_name; break;
    case errc::bus_not_found: code = bus::errc::bus_not_found; break;
    case errc::layout_mismatch: code = bus::errc::layout_mismatch; break;
    case errc::server_running: code = bus::errc::server_running; break;
    case errc::clients_alive: code = bus::errc::clients_alive; break;
    case errc::bus_full: code = bus::errc::bus_full; break;
    case errc::not_attached:
    case errc::evicted: code = bus::errc::not_attached; break;
    case errc::message_too_large: code = bus::errc::message_too_large; break;
    case errc::inbox_full: code = bus::errc::inbox_full; break;
    case errc::peer_lost: code = bus::errc::peer_lost; break;
    case errc::corrupt_record:
    case errc::table_tampered: code = bus::errc::corrupt_record; break;
    case errc::name_not_found: code = bus::errc::name_not_found; break;
    case errc::name_in_use: code = bus::errc::name_in_use; break;
    case errc::name_table_full: code = bus::errc::name_table_full; break;
    case errc::pool_exhausted:
    case errc::holder_list_full: code = bus::errc::pool_exhausted; break;
    case errc::invalid_handle: code = bus::errc::deserialization_failed; break;
    case errc::invalid_argument:
    case errc::timeout:
    case errc::bus_in_use:
    case errc::system_error:
    case errc::supervision_table_full:
    case errc::group_summary_full:
    case errc::ok:
      return caf::make_error(caf::sec::runtime_error, err.message);
  }
  return make_error(code, err.message);
}

std::string type_names(const caf::actor_system& sys, const caf::message& msg) {
  std::string result = "(";
  for (size_t i = 0; i < msg.size(); ++i) {
    if (i > 0)
      result += ", ";
    auto rtti = msg.type(i);
    auto& portable = sys.types().portable_name(rtti);
    if (portable != sys.types().default_type_name() || rtti.second == nullptr) {
      result += portable;
      continue;
    }
    int status = 0;
    char* demangled = abi::__cxa_demangle(rtti.second->name(), nullptr, nullptr, &status);
    result += status == 0 && demangled ? demangled : rtti.second->name();
    std::free(demangled);
  }
  return result + ")";
}

caf::error from_serializer(const caf::actor_system& sys, const caf::error& err,
                           const caf::message& msg) {
  if (err == caf::sec::unknown_type)
    return make_error(errc::unregistered_type,
                      "message " + type_names(sys, msg)
                        + " holds a type that is not registered (" + sys.render(err)
                        + "); register it with add_message_type in every process");
  return err;
}

caf::error from_deserializer(const caf::actor_system& sys, const caf::error& err,
                             const std::string& node_name, uint64_t receiver) {
  auto what = "node '" + node_name + "' cannot read a message for actor "
              + std::to_string(receiver) + ": " + sys.render(err);
  if (err == caf::sec::unknown_type)
    return make_error(errc::unregistered_type,
                      what + "; register the type with add_message_type in every process");
  return make_error(errc::deserialization_failed, what);
}

} // namespace shmbus::bus
