// Unix domain sockets between the two benchmark processes: the peer a user
// would pick without shmbus.
#pragma once

#include <memory>
#include <string>

#include "transport_mechanism.hpp"

namespace shmbus::bench {

/// How messages are delimited on the socket.
enum class uds_framing {
  /// SOCK_SEQPACKET: the kernel keeps boundaries; one recv per message.
  seqpacket,
  /// SOCK_STREAM with a 4-byte length prefix; the receiver reads into a
  /// buffer, so one recv may return many messages.
  stream,
};

/// How a receiver waits for the next message.
enum class uds_wait {
  /// A normal blocking socket: the receiver sleeps in recv().
  blocking,
  /// Non-blocking socket polled with recv() in a loop: burns a core, never
  /// sleeps, so it shows the cost of a wake-up.
  busy_poll,
};

std::unique_ptr<transport_mechanism>
make_uds_mechanism(std::string name, uds_framing framing, uds_wait wait);

} // namespace shmbus::bench
