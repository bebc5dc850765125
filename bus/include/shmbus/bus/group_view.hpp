// What one process knows of a group of the `shmbus` group module: its own
// subscribers, the other processes that subscribe, and what went where.
// The bus's groups are CAF groups: `sys.groups().get("shmbus", "blocks")`
// (see group_module_name), joined, left and sent to with CAF's own API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace shmbus::bus {

/// The name of the bus's CAF group module: `sys.groups().get(group_module_name, id)`.
constexpr const char* group_module_name = "shmbus";

/// Longest group identifier of the `shmbus` module, in bytes (a group record
/// carries its length in one byte).
constexpr size_t max_group_name = 255;

/// Most groups one process keeps (its own and those its peers subscribe
/// to); past it `groups().get` fails and a peer's subscription is refused,
/// both saying so.
constexpr size_t max_groups = 4096;

/// A snapshot of one group, as node::groups() reports it.
struct group_view {
  std::string name;
  /// Actors of this process that joined it.
  size_t local_subscribers = 0;
  /// Node names of the other processes that have at least one subscriber.
  std::vector<std::string> processes;
  /// Messages sent to the group from this process.
  uint64_t published = 0;
  /// Records written for it: one per message and subscribed process.
  uint64_t records_out = 0;
  /// Records that could not be written (the process's inbox stayed full
  /// past shmbus.full-inbox-timeout, it was lost, the message was too
  /// large or unreadable): counted here and logged, never lost silently.
  uint64_t undelivered = 0;
  /// Records of other processes received for it.
  uint64_t records_in = 0;
};

} // namespace shmbus::bus
