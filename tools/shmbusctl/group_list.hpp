// The groups of a bus, one entry per group, built from the rows each
// process shows in the group summary (one row per process and group; rows
// already checked by group_summary_table::list()).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shmbus/transport/bus_admin.hpp"

namespace shmbusctl {

/// What one process shows of a group.
struct group_member {
  uint32_t slot = 0;
  std::string node; ///< node name of the process
  shmbus::transport::group_summary_row row;
};

struct group_entry {
  std::string name;
  bool name_cut = false;
  /// Actors that joined it, in all processes.
  uint64_t subscribers = 0;
  /// Processes with at least one subscriber.
  uint32_t subscribed_processes = 0;
  uint64_t published = 0;
  uint64_t records_out = 0;
  uint64_t undelivered = 0;
  uint64_t records_in = 0;
  /// Every process that subscribes to or publishes to it, by slot.
  std::vector<group_member> members;
};

/// The groups of `r` by name. Pure.
std::vector<group_entry> build_groups(const shmbus::transport::bus_report& r);

} // namespace shmbusctl
