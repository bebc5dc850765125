// The mechanisms the benchmarks compare, in row order. Adding one (a shmbus
// idle strategy, say) is one line in registry.cpp plus its factory.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bus_mechanism.hpp"
#include "transport_mechanism.hpp"

namespace shmbus::bench {

std::vector<std::unique_ptr<transport_mechanism>> transport_mechanisms();

std::vector<std::unique_ptr<bus_mechanism>> bus_mechanisms();

/// Throws std::invalid_argument when no mechanism has that name.
std::unique_ptr<transport_mechanism>
find_transport_mechanism(const std::string& name);

std::unique_ptr<bus_mechanism> find_bus_mechanism(const std::string& name);

} // namespace shmbus::bench
