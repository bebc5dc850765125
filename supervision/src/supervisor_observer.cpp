#include "shmbus/supervision/supervisor_observer.hpp"

#include <mutex>

namespace shmbus::supervision {

namespace {

struct factory_slot {
  std::mutex mtx;
  observer_factory f;
};

factory_slot& slot() {
  // Never destroyed: supervisors may start while static objects die.
  static auto* x = new factory_slot;
  return *x;
}

} // namespace

supervisor_observer::~supervisor_observer() = default;

void set_observer_factory(observer_factory f) {
  auto& s = slot();
  std::lock_guard<std::mutex> guard{s.mtx};
  s.f = std::move(f);
}

std::shared_ptr<supervisor_observer> make_default_observer(caf::actor_system& sys) {
  observer_factory f;
  {
    auto& s = slot();
    std::lock_guard<std::mutex> guard{s.mtx};
    f = s.f;
  }
  return f ? f(sys) : nullptr;
}

} // namespace shmbus::supervision
