#include "placement.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <sched.h>

namespace shmbus::bench {

placement pinned(int a, int b) {
  return {"cores " + std::to_string(a) + "/" + std::to_string(b), a, b};
}

placement single_core(int core) {
  return {"core " + std::to_string(core), core, core};
}

placement unpinned() {
  return {"unpinned", -1, -1};
}

std::vector<placement> pair_placements() {
  return {pinned(0, 1), pinned(0, 0), unpinned()};
}

std::string pair_placements_note() {
  return "placement: 'cores 0/1' = A on core 0, B on core 1; 'cores 0/0' = "
         "both on core 0, where a wake-up is a context switch instead of a "
         "cross-core interrupt; 'core 0' = the one process on core 0; "
         "'unpinned' = the kernel decides, so it resembles either of the "
         "others, differently from run to run";
}

bool core_available(int core) {
  if (core < 0 || core >= CPU_SETSIZE)
    return false;
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (::sched_getaffinity(0, sizeof(mask), &mask) != 0)
    return false;
  return CPU_ISSET(core, &mask);
}

void pin_this_thread(int core) {
  if (core < 0)
    return;
  if (core >= CPU_SETSIZE)
    throw std::runtime_error("cannot pin to core " + std::to_string(core)
                             + ": beyond CPU_SETSIZE");
  cpu_set_t mask;
  CPU_ZERO(&mask);
  CPU_SET(core, &mask);
  if (::sched_setaffinity(0, sizeof(mask), &mask) != 0)
    throw std::runtime_error("cannot pin to core " + std::to_string(core)
                             + ": sched_setaffinity: " + std::strerror(errno)
                             + " (is the core online and in our cpuset?)");
}

} // namespace shmbus::bench
