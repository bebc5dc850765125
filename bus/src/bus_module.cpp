#include "shmbus/bus/bus_module.hpp"

#include <algorithm>
#include <unordered_map>

#include <caf/actor_system_config.hpp>

#include "shmbus/bus/errc.hpp"

#include "bus_core.hpp"
#include "shm_group_module.hpp"

namespace shmbus::bus {

namespace {

/// Every live bus_module of this process, by its actor system: CAF 0.17
/// offers no typed access to a module in the network_manager slot. Never
/// destroyed, so that modules of static actor systems can still leave it.
struct module_map {
  std::mutex mtx;
  std::unordered_map<const caf::actor_system*, bus_module*> modules;
};

module_map& modules() {
  static auto* map = new module_map;
  return *map;
}

/// Makes the `shmbus` group module of one actor system (a named type, so
/// that init() finds the factories it added before).
struct group_factory {
  caf::actor_system* sys;
  caf::group_module* operator()() const { return new shm_group_module(*sys); }
};

} // namespace

caf::actor_system::module* bus_module::make(caf::actor_system& sys,
                                            caf::detail::type_list<>) {
  return new bus_module(sys);
}

bus_module::bus_module(caf::actor_system& sys) : sys_(sys) {
  auto& map = modules();
  std::lock_guard<std::mutex> guard(map.mtx);
  map.modules[&sys] = this;
}

bus_module::~bus_module() {
  auto& map = modules();
  std::lock_guard<std::mutex> guard(map.mtx);
  auto i = map.modules.find(&sys_);
  if (i != map.modules.end() && i->second == this)
    map.modules.erase(i);
}

bus_module* bus_module::of(const caf::actor_system& sys) {
  auto& map = modules();
  std::lock_guard<std::mutex> guard(map.mtx);
  auto i = map.modules.find(&sys);
  return i != map.modules.end() ? i->second : nullptr;
}

void bus_module::init(caf::actor_system_config& cfg) {
  add_error_category(cfg);
  // CAF makes the group modules right after the modules' init, from
  // factories without arguments: ours knows its system from here. A config
  // used for several systems in turn keeps one factory, of the latest.
  auto& factories = cfg.group_module_factories;
  factories.erase(std::remove_if(factories.begin(), factories.end(),
                                 [](auto& f) { return f.template target<group_factory>() != nullptr; }),
                  factories.end());
  factories.emplace_back(group_factory{&sys_});
  // BASP reads its heartbeat settings when the middleman starts, after
  // this: with remote on, lost machines must be detected (CAF's default is
  // never), and every process must send heartbeats once any has a timeout.
  auto settings = bus_settings::from(cfg);
  if (settings && settings->remote) {
    if (caf::get_if(&caf::content(cfg), "middleman.heartbeat-interval") == nullptr)
      cfg.set("middleman.heartbeat-interval", bus_settings::default_remote_heartbeat_interval);
    if (caf::get_if(&caf::content(cfg), "middleman.connection-timeout") == nullptr)
      cfg.set("middleman.connection-timeout", bus_settings::default_remote_connection_timeout);
  }
}

void bus_module::start() {
  // nop: nodes start with node::start()
}

caf::expected<node> bus_module::start_node(bus_settings settings) {
  // Held while the transport joins: a shutdown that overlaps a start waits
  // for it and then stops the new node too.
  std::lock_guard<std::mutex> guard(mtx_);
  if (stopped_)
    return make_error(errc::not_attached,
                      "the actor system is shutting down; start bus nodes before that");
  cores_.erase(std::remove_if(cores_.begin(), cores_.end(),
                              [](auto& core) { return !core->running(); }),
               cores_.end());
  for (auto& core : cores_)
    if (core->settings().bus == settings.bus)
      return caf::make_error(caf::sec::invalid_argument,
                             "this actor system is on bus '" + settings.bus
                               + "' already (node '" + core->settings().node_name
                               + "'): use that node's handle, or stop it first");
  auto core = bus_core::start(sys_, std::move(settings));
  if (!core)
    return std::move(core.error());
  if (!took_await_) {
    took_await_ = true;
    await_wish_ = sys_.await_actors_before_shutdown();
    sys_.await_actors_before_shutdown(false);
  }
  cores_.push_back(*core);
  return node{std::move(*core)};
}

std::vector<node> bus_module::nodes() {
  std::lock_guard<std::mutex> guard(mtx_);
  std::vector<node> result;
  for (auto& core : cores_)
    if (core->running())
      result.push_back(node{core});
  return result;
}

void bus_module::stop() {
  std::vector<std::shared_ptr<bus_core>> cores;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    stopped_ = true;
    cores = cores_;
  }
  for (auto& core : cores) {
    core->stop();
    core->release_registry();
  }
  if (await_wish_)
    sys_.await_all_actors_done();
}

} // namespace shmbus::bus
