// The supervisors of a bus as trees, built from the rows of its supervision
// table (which may be torn or scribbled on: every link is checked, cycles
// are cut, a child supervisor is looked for only in its own process).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shmbus/transport/bus_admin.hpp"

namespace shmbusctl {

struct supervisor_node;

struct child_node {
  shmbus::transport::supervision_row row;
  /// The child's own supervisor, if it is one of the same process.
  std::vector<supervisor_node> nested; ///< zero or one
};

struct supervisor_node {
  uint32_t owner_slot = 0;
  uint32_t owner_incarnation = 0;
  std::string owner_name; ///< node name of the owning process
  int32_t pid = 0;
  uint64_t id = 0;
  std::string name;
  std::string strategy;
  std::vector<child_node> children; ///< in start order
};

/// The top-level supervisors of `r` with their children and nested
/// supervisors. Pure.
std::vector<supervisor_node> build_trees(const shmbus::transport::bus_report& r);

} // namespace shmbusctl
