// The supervisor's error category, registered with CAF so that callers match
// its failures the CAF way: `if (err == shmbus::supervision::errc::child_running)`.
// It needs nothing of shmbus but this library.
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/make_message.hpp>

namespace shmbus::supervision {

/// Category atom of every supervision error.
constexpr caf::atom_value errc_category = caf::atom("shmbus_sv");

enum class errc : uint8_t {
  child_start_failed = 1,     ///< a child's start function failed
  restart_intensity_exceeded, ///< more restarts than allowed within the period
  child_not_found,            ///< no child with that id
  child_already_exists,       ///< a child with that id exists
  child_running,              ///< operation needs a stopped child
};

/// Name of `x`, e.g. "child_not_found".
const char* to_string(errc x) noexcept;

inline caf::error make_error(errc x) {
  return {static_cast<uint8_t>(x), errc_category};
}

/// An error with a description that names the child and the remedy.
inline caf::error make_error(errc x, std::string what) {
  return {static_cast<uint8_t>(x), errc_category,
          caf::make_message(std::move(what))};
}

/// Registers the category's renderer with `cfg`, so that `sys.render(err)`
/// prints "shmbus::supervision::child_not_found: <description>". configure()
/// in supervisor.hpp calls it.
void add_error_category(caf::actor_system_config& cfg);

} // namespace shmbus::supervision
