// shmbus's CAF integration between the two benchmark processes: B creates a
// bus and publishes its actor, A joins and looks it up.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "shmbus/bus/bus_settings.hpp"

#include "bus_mechanism.hpp"

namespace shmbus::bench {

/// Row name "shmbus-<idle strategy>"; `dispatch` is "inline" or "scheduler"
/// (then the row is "shmbus-<strategy>-sched").
std::unique_ptr<bus_mechanism> make_shmbus_bus_mechanism(const std::string& idle,
                                                         const std::string& dispatch);

/// The same with a row name of its own and each node's settings changed
/// by `tweak` (sizes, the buffer pool, io-cpu; `settings.role` says which
/// node), which `tweak_note` describes in the row's note.
std::unique_ptr<bus_mechanism>
make_shmbus_bus_mechanism(const std::string& idle, const std::string& dispatch,
                          std::string name, std::function<void(bus::bus_settings&)> tweak,
                          std::string tweak_note = {});

} // namespace shmbus::bench
