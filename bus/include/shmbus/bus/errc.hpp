// The shmbus error category, registered with CAF so that actors match shmbus
// failures the CAF way: `if (err == shmbus::bus::errc::inbox_full) ...`.
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace caf {
class actor_system_config;
} // namespace caf

namespace shmbus::bus {

/// Category atom of every shmbus error.
constexpr caf::atom_value errc_category = caf::atom("shmbus");

enum class errc : uint8_t {
  // -- bus set-up --
  invalid_bus_name = 1,    ///< name outside [A-Za-z0-9._-]{1,64}
  bus_not_found,           ///< no server has created the bus
  layout_mismatch,         ///< segment written by another layout version
  server_running,          ///< a second server for the same bus
  clients_alive,           ///< a server start while clients still live
  bus_full,                ///< no free node slot
  not_attached,            ///< the bus is stopped or this node was evicted
  // -- messages --
  message_too_large,       ///< serialized message exceeds max-message-size
  unregistered_type,       ///< a message element has no type registration
  inbox_full,              ///< destination inbox stayed full past the deadline
  peer_lost,               ///< destination process died or hung
  corrupt_record,          ///< a record in an inbox failed validation
  deserialization_failed,  ///< a record's payload could not be decoded
  // -- names --
  name_not_found,          ///< nothing published under that name
  name_in_use,             ///< the name is published by another actor
  name_table_full,         ///< no free entry in the name table
  interface_mismatch,      ///< typed lookup of an actor with another interface
  // -- supervision --
  child_start_failed,      ///< a child's start function failed
  restart_intensity_exceeded, ///< more restarts than allowed within the period
  child_not_found,         ///< no child with that id
  child_already_exists,    ///< a child with that id exists
  child_running,           ///< operation needs a stopped child
  module_exited,           ///< module process exited; context: exit code
  module_killed,           ///< module process killed; context: signal number
  module_start_timeout,    ///< module did not publish its names in time
  module_hung,             ///< module missed its heartbeat deadline
  launcher_running,        ///< a second launcher for the same bus
};

/// Human-readable name of `x`, e.g. "inbox_full".
const char* to_string(errc x) noexcept;

inline caf::error make_error(errc x) {
  return {static_cast<uint8_t>(x), errc_category};
}

/// An error with a description that names the thing and the remedy.
inline caf::error make_error(errc x, std::string what) {
  return {static_cast<uint8_t>(x), errc_category,
          caf::make_message(std::move(what))};
}

/// Registers the category's renderer with `cfg` (done by shmbus::bus::config).
void add_error_category(caf::actor_system_config& cfg);

} // namespace shmbus::bus
