// The bus as a module of CAF's actor system, as caf::io::middleman is one:
// the system owns every bus node started in it and stops them when it shuts
// down, so no handle can outlive what it points to. shmbus::bus::config
// loads it; an application with a config of its own adds
//
//   cfg.load<caf::io::middleman>();          // the system's node id
//   cfg.load<shmbus::bus::bus_module>();
//
// CAF 0.17.6 has a fixed set of module slots (scheduler, middleman,
// opencl_manager, openssl_manager, network_manager). The bus takes
// network_manager, the slot of libcaf_net, which 0.17.6 (Debian bookworm)
// does not ship: never call actor_system::network_manager() in a process
// that loads this module.
//
// Shutdown, checked against CAF 0.17.6's actor_system.cpp: ~actor_system
// first awaits all actors (if await_actors_before_shutdown()), then stops
// the modules in reverse slot order, network_manager first, while the
// scheduler still runs. Actors kept alive only by registry entries the bus
// made (an actor that was ever sent to another process) would hang that
// first wait. So when the first node starts, the module records the
// application's await_actors_before_shutdown() wish and turns it off; its
// stop() stops every node (leave the bus, kill proxies, fail pending
// requests, release the registry entries) and then, if the application
// wanted it, awaits all actors itself. Set await_actors_before_shutdown()
// before starting a node: a later change is not seen.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/detail/type_list.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "shmbus/bus/bus_settings.hpp"
#include "shmbus/bus/node.hpp"

namespace shmbus::bus {

class bus_core;

class bus_module final : public caf::actor_system::module {
public:
  /// Called by actor_system_config::load<bus_module>().
  static caf::actor_system::module* make(caf::actor_system& sys, caf::detail::type_list<>);

  ~bus_module() override;

  /// The module of `sys`, or nullptr if its config did not load it.
  /// Thread-safe.
  static bus_module* of(const caf::actor_system& sys);

  /// Starts a bus node owned by this module (see node::start). Fails with
  /// errc::not_attached once the system shuts down. Thread-safe.
  /// @warning Blocks the caller while the transport joins the bus.
  caf::expected<node> start_node(bus_settings settings);

  /// Handles of the nodes of this system that have not stopped (a snapshot:
  /// one may stop right after). Thread-safe; never blocks beyond a mutex.
  std::vector<node> nodes();

  // -- caf::actor_system::module ----------------------------------------------

  // Called by the actor system, once each, on its own thread.

  /// Registers the shmbus error category with the config.
  void init(caf::actor_system_config& cfg) override;
  void start() override;
  /// Stops every node, then awaits all actors if the application wanted
  /// that (see above). Runs in ~actor_system.
  /// @warning Blocks the caller until every actor is done (if wanted), as
  ///          ~actor_system itself would.
  void stop() override;
  id_t id() const override { return network_manager; }
  void* subtype_ptr() override { return this; }

private:
  explicit bus_module(caf::actor_system& sys);

  caf::actor_system& sys_;
  std::mutex mtx_;
  /// The nodes started in this system; stopped ones are pruned at the
  /// next start.
  std::vector<std::shared_ptr<bus_core>> cores_;
  bool stopped_ = false;
  bool took_await_ = false;
  /// The application's await_actors_before_shutdown() when the first node
  /// started.
  bool await_wish_ = false;
};

} // namespace shmbus::bus
