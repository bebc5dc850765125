// What a process says when it starts a node: which bus, which role, and for
// a server the sizes and timing of the bus it creates. Defaults come from
// config.hpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "shmbus/transport/config.hpp"
#include "shmbus/transport/error.hpp"
#include "shmbus/transport/idle_strategy.hpp"
#include "shmbus/transport/node_slot.hpp"

namespace shmbus::transport {

struct node_options {
  std::string bus;
  node_role role = node_role::client;
  /// Shown by tools and in loss reports, e.g. "wallet"; at most
  /// limits::max_name_length bytes.
  std::string name;
  /// Server only: sizes and timing of the bus (clients read the segment's).
  bus_limits limits;
  liveness_timing timing;
  /// Server only: permission bits of the lock file and the hand-out
  /// socket (who may join the bus: 0600 its user, 0660 also its group).
  unsigned file_mode = defaults::file_mode;
  /// Server only: a CRC32C per record, checked by every receiver.
  bool checksums = defaults::checksums;
  /// Server only: how long to wait for clients of a previous server to exit
  /// before refusing to start.
  std::chrono::nanoseconds wait_for_clients = defaults::wait_for_clients;
  /// Client only: how long to wait for a server that is setting the bus up.
  std::chrono::nanoseconds attach_timeout = defaults::attach_timeout;
  std::chrono::nanoseconds full_inbox_timeout = defaults::full_inbox_timeout;
  idle_strategy idle;
  /// SIGKILL a peer this node declares hung, so its unfinished records can
  /// be skipped safely and its supervisor restarts it. Only a process the
  /// kernel proves to be the peer (it holds the peer's slot lock) and shows
  /// hung (stopped, its consumer thread not progressing, or stuck by its
  /// own declaration) is ever signalled.
  bool kill_hung_peers = true;
  /// Called on the node's liveness thread when this node declares itself
  /// lost because its consumer did not run for the heartbeat timeout (its
  /// events cannot be delivered then). Must not block.
  std::function<void(const error&)> on_stall;
  /// Up to limits::max_user_data_bytes opaque bytes published with this
  /// node (see peer_info).
  std::vector<std::byte> user_data;
};

} // namespace shmbus::transport
