// How process A gets a handle to an actor in process B. Measuring another
// actor transport (the shmbus bus with some idle strategy, say) means writing
// one bus_mechanism and listing it in registry.cpp; the actors and the
// measurements are shared (bus_bench.hpp).
#pragma once

#include <chrono>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

namespace shmbus::bench {

/// Which of the two benchmark processes is asking.
enum class bench_process {
  driver, // A: measures; also the only process of in-process mechanisms
  peer,   // B: hosts the actor A talks to
};

class bus_mechanism {
public:
  virtual ~bus_mechanism() = default;

  /// As printed in rows: "caf-tcp", "caf-inprocess", "shmbus-adaptive".
  virtual std::string name() const = 0;

  /// One sentence for the notes: what exactly is measured.
  virtual std::string description() const = 0;

  /// True when both actors live in one actor system: no process B, and
  /// expose/lookup are never called.
  virtual bool in_process() const {
    return false;
  }

  /// In A and B, before the actor system exists: load modules, set options.
  virtual void configure(caf::actor_system_config& cfg, bench_process which)
    = 0;

  /// In B: makes `peer` reachable and returns the address A needs. Returns
  /// only once A can look it up.
  virtual std::string expose(caf::actor_system& sys, const caf::actor& peer)
    = 0;

  /// In A: a handle to the actor B exposed at `address`; throws
  /// std::runtime_error (naming address and reason) on failure.
  virtual caf::actor lookup(caf::actor_system& sys, const std::string& address,
                            std::chrono::milliseconds timeout)
    = 0;

  /// In A and B, on every exit path, before the actor system is destroyed:
  /// stop what expose or lookup started (I/O, proxies, registry entries).
  /// Must not throw.
  virtual void shutdown(caf::actor_system&) noexcept {
    // nop
  }
};

} // namespace shmbus::bench
