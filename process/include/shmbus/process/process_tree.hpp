// The children of a process as /proc shows them: what the launcher (a
// subreaper) must reap and what tests check for zombies.
#pragma once

#include <vector>

#include <sys/types.h>

#include "shmbus/process/fwd.hpp"

namespace shmbus::process {

struct process_entry {
  pid_t pid = 0;
  pid_t parent = 0;
  /// The state letter of /proc/<pid>/stat: R, S, D, T, Z, ...
  char state = '?';
};

/// Every process whose parent is `parent` (zombies included). Reads /proc:
/// a snapshot that may be stale by the time it returns.
std::vector<process_entry> children_of(pid_t parent);

} // namespace shmbus::process
