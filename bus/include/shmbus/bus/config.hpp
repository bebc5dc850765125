// The actor_system_config of a shmbus process: adds the `shmbus.*` options
// (command line `--shmbus.bus=demo`, or a [shmbus] section in
// caf-application.ini, both shown by --dump-config), loads CAF's middleman
// (which gives the system its node id) and the bus_module (which owns the
// bus nodes), and registers the shmbus error category.
#pragma once

#include <caf/actor_system_config.hpp>
#include <caf/settings.hpp>

#include "shmbus/bus/bus_settings.hpp"

namespace shmbus::bus {

/// Filled in (parse(), fields of `shmbus`) before the actor system is made,
/// then read by it; not meant to be changed from several threads.
class config : public caf::actor_system_config {
public:
  config();

  /// Bound to the `shmbus.*` options.
  bus_settings shmbus;

  caf::settings dump_content() const override;
};

} // namespace shmbus::bus
