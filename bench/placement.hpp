// Where the two benchmark processes run. On this kind of VM waking an idle
// core costs 40-90 us, so placement changes results by 10-30x and every row
// names it.
#pragma once

#include <string>
#include <vector>

namespace shmbus::bench {

struct placement {
  /// As printed in a row: "cores 0/1", "cores 0/0", "core 0", "unpinned".
  std::string label;
  /// Core for process A (the driver) and B (the peer); -1 leaves the process
  /// wherever the scheduler puts it.
  int core_a = -1;
  int core_b = -1;
};

/// A on core `a`, B on core `b` ("cores 0/0" shares one core: a wake-up
/// is then a context switch, not a cross-core interrupt).
placement pinned(int a, int b);

/// Both ends in one process on one core (in-process rows have no B).
placement single_core(int core);

placement unpinned();

/// What every two-process row runs in, in row order: A and B on cores 0 and
/// 1, both on core 0, and wherever the kernel puts them (which may be one
/// core or two, and may change from run to run).
std::vector<placement> pair_placements();

/// One sentence for the notes explaining the placement labels.
std::string pair_placements_note();

/// True if this process may run on `core` (it exists and is in our mask).
bool core_available(int core);

/// Pins the calling thread to `core`; threads it starts later inherit the
/// mask, so call this before starting any. -1 does nothing. Throws
/// std::runtime_error when the kernel refuses.
void pin_this_thread(int core);

} // namespace shmbus::bench
