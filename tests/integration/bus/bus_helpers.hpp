// Helpers for bus tests: configs with fast liveness timing, and a process
// with an actor system on a bus, torn down in the right order.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <caf/all.hpp>
#include <doctest/doctest.h>

#include "shmbus/bus/config.hpp"
#include "shmbus/bus/node.hpp"

namespace shmbus::test {

using namespace std::chrono_literals;

/// A config for `bus`. Its heartbeat timeout is long enough that a loaded
/// machine (the suite runs beside a CPU hog in CI) makes no process look
/// hung; hang tests ask for fast_heartbeats().
inline void configure(bus::config& cfg, const std::string& bus, const std::string& role,
                      const std::string& name) {
  cfg.shmbus.bus = bus;
  cfg.shmbus.role = role;
  cfg.shmbus.node_name = name;
  cfg.shmbus.heartbeat_interval = 100ms;
  cfg.shmbus.heartbeat_timeout = 2s;
}

/// Heartbeats fast enough for hang tests (set on the server: the bus's).
inline void fast_heartbeats(bus::config& cfg) {
  cfg.shmbus.heartbeat_interval = 20ms;
  cfg.shmbus.heartbeat_timeout = 300ms;
}

/// An actor system on a bus; destroying the system stops the bus.
template <class Config = bus::config>
struct bus_process {
  bus_process(const std::string& bus_name, const std::string& role,
              const std::string& name, std::function<void(Config&)> tweak = nullptr) {
    configure(cfg, bus_name, role, name);
    if (tweak)
      tweak(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    auto started = bus::node::start(*sys);
    if (!started)
      FAIL("cannot start bus node '" << name << "': " << sys->render(started.error()));
    node = std::move(*started);
  }

  ~bus_process() {
    sys.reset();
  }

  Config cfg;
  std::unique_ptr<caf::actor_system> sys;
  bus::node node;
};

} // namespace shmbus::test
