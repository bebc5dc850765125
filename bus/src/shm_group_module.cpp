#include "shm_group_module.hpp"

#include <caf/actor_system.hpp>
#include <caf/deserializer.hpp>
#include <caf/group_manager.hpp>
#include <caf/sec.hpp>
#include <caf/type_nr.hpp>

#include "shmbus/bus/errc.hpp"
#include "shmbus/bus/group_view.hpp"

#include "group_router.hpp"

namespace shmbus::bus {

shm_group_module::shm_group_module(caf::actor_system& sys)
  : caf::group_module(sys, group_module_name) {
  // nop
}

shm_group_module* shm_group_module::of(caf::actor_system& sys) {
  auto mod = sys.groups().get_module(group_module_name);
  return mod ? dynamic_cast<shm_group_module*>(&*mod) : nullptr;
}

caf::error shm_group_module::crossing(const caf::message& msg) {
  // Runs for every message both ways. CAF 0.17's type token holds the
  // builtin type number (0 for custom types) of each of the first five
  // elements in 6 bits: one call rules a group out for most messages.
  constexpr size_t token_elements = 5;
  constexpr uint32_t token_mask = 0x3F;
  constexpr auto group_nr = caf::type_nr<caf::group>::value;
  static_assert(group_nr != 0 && group_nr <= token_mask);
  auto n = msg.size();
  if (n <= token_elements) {
    auto token = msg.type_token();
    bool group = false;
    for (size_t i = 0; i < n; ++i, token >>= 6)
      group = group || (token & token_mask) == group_nr;
    if (!group)
      return caf::none;
  }
  for (size_t i = 0; i < n; ++i) {
    if (!msg.match_element<caf::group>(i))
      continue;
    auto& g = msg.get_as<caf::group>(i);
    if (g && g.get()->module().name() != group_module_name)
      return caf::make_error(caf::sec::invalid_argument,
                             "a group of module '" + g.get()->module().name()
                               + "' in a message to another process: only groups of module '"
                               + group_module_name + "' cross the bus; get it with "
                               "sys.groups().get(\"" + group_module_name + "\", name)");
  }
  return caf::none;
}

std::string shm_group_module::check_name(const std::string& id) {
  if (id.empty())
    return "an empty group identifier";
  if (id.size() > max_group_name)
    return "a group identifier of " + std::to_string(id.size()) + " bytes (at most "
           + std::to_string(max_group_name) + ")";
  return {};
}

caf::expected<caf::group> shm_group_module::get(const std::string& id) {
  if (auto problem = check_name(id); !problem.empty())
    return caf::make_error(caf::sec::invalid_argument,
                           "group module '" + name() + "': " + problem
                             + "; name groups with 1 to " + std::to_string(max_group_name)
                             + " bytes");
  std::lock_guard<std::mutex> guard(groups_mtx_);
  if (stopped_)
    return make_error(errc::not_attached, "the actor system shuts down: its '" + name()
                                            + "' groups are stopped");
  auto i = groups_.find(id);
  if (i != groups_.end())
    return caf::group{i->second};
  if (groups_.size() >= max_groups) {
    // Groups nobody holds or joined any more make room.
    for (auto j = groups_.begin(); j != groups_.end();)
      if (j->second->get_reference_count() == 1 && j->second->subscribers() == 0)
        j = groups_.erase(j);
      else
        ++j;
    if (groups_.size() >= max_groups)
      return caf::make_error(caf::sec::runtime_error,
                        "this process holds " + std::to_string(max_groups)
                          + " groups of module '" + name()
                          + "' (shmbus::bus::max_groups): let go of group handles "
                            "you no longer use");
  }
  caf::intrusive_ptr<shm_group> made{new shm_group(*this, id), false};
  groups_.emplace(id, made);
  return caf::group{made};
}

caf::error shm_group_module::load(caf::deserializer& source, caf::group& storage) {
  std::string id;
  if (auto err = source(id))
    return err;
  auto got = get(id);
  if (!got)
    return std::move(got.error());
  storage = std::move(*got);
  return caf::none;
}

void shm_group_module::stop() {
  std::map<std::string, caf::intrusive_ptr<shm_group>> groups;
  {
    std::lock_guard<std::mutex> guard(groups_mtx_);
    stopped_ = true;
    groups.swap(groups_);
  }
  for (auto& kvp : groups)
    kvp.second->stop();
}

bool shm_group_module::attach(std::shared_ptr<group_router> router) {
  {
    std::lock_guard<std::mutex> guard(router_mtx_);
    if (router_)
      return false;
    router_ = router;
  }
  // A group joined between the two locks announces itself as well: the
  // router ignores a second join of a group it knows.
  std::vector<caf::intrusive_ptr<shm_group>> groups;
  {
    std::lock_guard<std::mutex> guard(groups_mtx_);
    for (auto& kvp : groups_)
      groups.push_back(kvp.second);
  }
  for (auto& g : groups)
    g->announce(*router);
  return true;
}

void shm_group_module::detach(const group_router* router) {
  std::lock_guard<std::mutex> guard(router_mtx_);
  if (router_.get() == router)
    router_.reset();
}

std::shared_ptr<group_router> shm_group_module::router() const {
  std::lock_guard<std::mutex> guard(router_mtx_);
  return router_;
}

caf::intrusive_ptr<shm_group> shm_group_module::find(const std::string& id) const {
  std::lock_guard<std::mutex> guard(groups_mtx_);
  auto i = groups_.find(id);
  return i != groups_.end() ? i->second : nullptr;
}

size_t shm_group_module::deliver(const std::string& id, const caf::strong_actor_ptr& sender,
                                 const caf::message& msg, caf::execution_unit* host) {
  auto g = find(id);
  if (!g)
    return 0;
  auto n = g->subscribers();
  g->deliver_local(sender, msg, host);
  return n;
}

size_t shm_group_module::subscribers(const std::string& id) const {
  auto g = find(id);
  return g ? g->subscribers() : 0;
}

} // namespace shmbus::bus
