#include "shmbus/transport/error.hpp"

namespace shmbus::transport {

const char* to_string(errc x) noexcept {
  switch (x) {
    case errc::ok: return "ok";
    case errc::invalid_bus_name: return "invalid_bus_name";
    case errc::invalid_argument: return "invalid_argument";
    case errc::bus_not_found: return "bus_not_found";
    case errc::layout_mismatch: return "layout_mismatch";
    case errc::server_running: return "server_running";
    case errc::clients_alive: return "clients_alive";
    case errc::bus_in_use: return "bus_in_use";
    case errc::bus_full: return "bus_full";
    case errc::not_attached: return "not_attached";
    case errc::message_too_large: return "message_too_large";
    case errc::inbox_full: return "inbox_full";
    case errc::peer_lost: return "peer_lost";
    case errc::corrupt_record: return "corrupt_record";
    case errc::table_tampered: return "table_tampered";
    case errc::name_not_found: return "name_not_found";
    case errc::name_in_use: return "name_in_use";
    case errc::name_table_full: return "name_table_full";
    case errc::timeout: return "timeout";
    case errc::system_error: return "system_error";
    case errc::evicted: return "evicted";
    case errc::supervision_table_full: return "supervision_table_full";
    case errc::group_summary_full: return "group_summary_full";
    case errc::pool_exhausted: return "pool_exhausted";
    case errc::holder_list_full: return "holder_list_full";
    case errc::invalid_handle: return "invalid_handle";
  }
  return "unknown";
}

} // namespace shmbus::transport
