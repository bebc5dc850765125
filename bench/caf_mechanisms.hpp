// The actor transports a user would pick without shmbus: CAF's own TCP
// networking (BASP over loopback) and both actors in one actor system.
#pragma once

#include <memory>

#include "bus_mechanism.hpp"

namespace shmbus::bench {

/// "caf-tcp": caf::io::middleman, publish() in B, remote_actor() in A.
std::unique_ptr<bus_mechanism> make_caf_tcp_mechanism();

/// "caf-inprocess": one process, one actor system, no networking.
std::unique_ptr<bus_mechanism> make_caf_inprocess_mechanism();

} // namespace shmbus::bench
