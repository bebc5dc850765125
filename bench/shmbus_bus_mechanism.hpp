// shmbus's CAF integration between the two benchmark processes: B creates a
// bus and publishes its actor, A joins and looks it up.
#pragma once

#include <memory>
#include <string>

#include "bus_mechanism.hpp"

namespace shmbus::bench {

/// Row name "shmbus-<idle strategy>"; `dispatch` is "inline" or "scheduler"
/// (then the row is "shmbus-<strategy>-sched").
std::unique_ptr<bus_mechanism> make_shmbus_bus_mechanism(const std::string& idle,
                                                         const std::string& dispatch);

} // namespace shmbus::bench
