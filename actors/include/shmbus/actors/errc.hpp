// The error category of module processes and the launcher, registered with
// CAF: `if (reason == shmbus::actors::errc::module_killed) ...`. The bus and
// the supervisor have categories of their own.
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/make_message.hpp>

#include "shmbus/actors/fwd.hpp"

namespace shmbus::actors {

/// Category atom of every error of this layer.
constexpr caf::atom_value errc_category = caf::atom("shmbus_act");

enum class errc : uint8_t {
  module_exited = 1,    ///< module process exited on its own, not with 0
  module_killed,        ///< module process ended by a signal
  module_start_timeout, ///< module did not publish its names in time
  module_hung,          ///< module missed its heartbeat deadline and was killed
  launcher_running,     ///< a second launcher for the same bus
};

/// Name of `x`, e.g. "module_killed".
const char* to_string(errc x) noexcept;

inline caf::error make_error(errc x) {
  return {static_cast<uint8_t>(x), errc_category};
}

/// An error with a description that names the module and what happened.
inline caf::error make_error(errc x, std::string what) {
  return {static_cast<uint8_t>(x), errc_category,
          caf::make_message(std::move(what))};
}

/// Registers the category's renderer with `cfg`, so that `sys.render(err)`
/// prints "shmbus::actors::module_killed: <description>".
void add_error_category(caf::actor_system_config& cfg);

/// Registers what a process that supervises modules needs with `cfg`: this
/// category and everything of shmbus::supervision::configure(). run_module()
/// calls it for module processes; a server calls it before creating its
/// actor system. Calling it twice is harmless.
void configure(caf::actor_system_config& cfg);

} // namespace shmbus::actors
