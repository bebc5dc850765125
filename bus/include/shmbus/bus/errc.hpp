// The bus's error category, registered with CAF so that actors match bus
// failures the CAF way: `if (err == shmbus::bus::errc::inbox_full) ...`.
// Supervisors and module processes have categories of their own
// (shmbus::supervision::errc, shmbus::actors::errc).
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
  // -- bounds (codes are part of the wire: new ones go last) --
  too_many_requests,       ///< max-pending-requests reached: the oldest request failed
  pool_exhausted,          ///< no free block in the buffer pool, or no references left
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
