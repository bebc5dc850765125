#include "module_registry.hpp"

#include <map>
#include <mutex>
#include <utility>

namespace shmbus::actors::module_registry {

namespace {

using key = std::pair<const caf::actor_system*, caf::actor_id>;

struct registry {
  std::mutex mtx;
  std::map<key, int> pids; // bounded by the live module actors
};

registry& instance() {
  // Never destroyed: module actors may end while static objects die.
  static auto* x = new registry;
  return *x;
}

} // namespace

void add(const caf::actor_system& sys, caf::actor_id id, int pid) {
  auto& r = instance();
  std::lock_guard<std::mutex> guard{r.mtx};
  r.pids[{&sys, id}] = pid;
}

void remove(const caf::actor_system& sys, caf::actor_id id) {
  auto& r = instance();
  std::lock_guard<std::mutex> guard{r.mtx};
  r.pids.erase({&sys, id});
}

std::optional<int> pid_of(const caf::actor_system& sys, caf::actor_id id) {
  auto& r = instance();
  std::lock_guard<std::mutex> guard{r.mtx};
  auto i = r.pids.find({&sys, id});
  if (i == r.pids.end())
    return std::nullopt;
  return i->second;
}

} // namespace shmbus::actors::module_registry
