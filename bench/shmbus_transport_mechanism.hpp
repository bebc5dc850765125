// shmbus's transport between the two benchmark processes: B creates a bus
// (server), A joins it (client); each message is one inbox record.
#pragma once

#include <memory>
#include <string>

#include "shmbus/transport/idle_strategy.hpp"
#include "transport_mechanism.hpp"

namespace shmbus::bench {

/// Row name "shmbus-<strategy>", e.g. "shmbus-adaptive", on a bus with a
/// CRC32C per record (the default); with `checksums` false
/// "shmbus-<strategy>-nocrc" (shmbus.checksums=off).
std::unique_ptr<transport_mechanism>
make_shmbus_transport_mechanism(const transport::idle_strategy& idle, bool checksums = true);

} // namespace shmbus::bench
