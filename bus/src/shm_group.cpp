#include "shm_group.hpp"

#include <algorithm>

#include <caf/actor_system.hpp>
#include <caf/serializer.hpp>

#include "group_router.hpp"
#include "shm_group_module.hpp"

namespace shmbus::bus {

shm_group::shm_group(shm_group_module& mod, std::string id)
  : caf::abstract_group(mod, std::move(id), mod.system().node()), mod_(mod) {
  // nop
}

caf::error shm_group::save(caf::serializer& sink) const {
  auto id = identifier_;
  return sink(id);
}

bool shm_group::subscribe(caf::strong_actor_ptr who) {
  if (!who)
    return false;
  std::lock_guard<std::mutex> guard(mtx_);
  if (stopped_ || std::find(subscribers_.begin(), subscribers_.end(), who) != subscribers_.end())
    return false;
  subscribers_.push_back(std::move(who));
  if (auto router = mod_.router()) {
    if (subscribers_.size() == 1)
      router->local_join(identifier_);
    router->local_count(identifier_, subscribers_.size());
  }
  return true;
}

void shm_group::unsubscribe(const caf::actor_control_block* who) {
  std::lock_guard<std::mutex> guard(mtx_);
  auto i = std::find_if(subscribers_.begin(), subscribers_.end(),
                        [&](const caf::strong_actor_ptr& x) { return x.get() == who; });
  if (i == subscribers_.end())
    return;
  subscribers_.erase(i);
  if (auto router = mod_.router()) {
    if (subscribers_.empty())
      router->local_leave(identifier_);
    router->local_count(identifier_, subscribers_.size());
  }
}

void shm_group::enqueue(caf::strong_actor_ptr sender, caf::message_id, caf::message msg,
                        caf::execution_unit* host) {
  // As CAF's local groups: a group message is never a request.
  deliver_local(sender, msg, host);
  if (auto router = mod_.router())
    router->publish(identifier_, sender, msg);
}

void shm_group::stop() {
  std::lock_guard<std::mutex> guard(mtx_);
  stopped_ = true;
  if (subscribers_.empty())
    return;
  subscribers_.clear();
  if (auto router = mod_.router()) {
    router->local_leave(identifier_);
    router->local_count(identifier_, 0);
  }
}

void shm_group::deliver_local(const caf::strong_actor_ptr& sender, const caf::message& msg,
                              caf::execution_unit* host) {
  for (auto& x : snapshot())
    x->enqueue(sender, caf::make_message_id(), msg, host);
}

size_t shm_group::subscribers() const {
  std::lock_guard<std::mutex> guard(mtx_);
  return subscribers_.size();
}

void shm_group::announce(group_router& router) {
  std::lock_guard<std::mutex> guard(mtx_);
  if (!subscribers_.empty()) {
    router.local_join(identifier_);
    router.local_count(identifier_, subscribers_.size());
  }
}

std::vector<caf::strong_actor_ptr> shm_group::snapshot() const {
  std::lock_guard<std::mutex> guard(mtx_);
  return subscribers_;
}

} // namespace shmbus::bus
