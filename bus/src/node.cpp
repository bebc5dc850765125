#include "shmbus/bus/node.hpp"

#include "shmbus/bus/bus_module.hpp"
#include "shmbus/transport/node.hpp"

#include "bus_core.hpp"

namespace shmbus::bus {

caf::expected<node> node::start(caf::actor_system& sys) {
  auto settings = bus_settings::from(sys.config());
  if (!settings)
    return std::move(settings.error());
  return start(sys, std::move(*settings));
}

caf::expected<node> node::start(caf::actor_system& sys, bus_settings settings) {
  auto* module = bus_module::of(sys);
  if (module == nullptr)
    return caf::make_error(caf::sec::invalid_argument,
                           "the actor system has no bus module: use shmbus::bus::config, "
                           "or call cfg.load<shmbus::bus::bus_module>() (and "
                           "cfg.load<caf::io::middleman>()) before creating the actor system");
  return module->start_node(std::move(settings));
}

int process_id_of(const caf::node_id& node) {
  if (!node || node->implementation_id() != caf::node_id::default_data::class_id)
    return 0;
  return static_cast<int>(
    static_cast<const caf::node_id::default_data&>(*node).process_id());
}

node::node(std::shared_ptr<bus_core> core) noexcept : core_(std::move(core)) {
  // nop
}

caf::expected<buffer_writer> node::make_buffer(size_t size, buffer_fallback fallback) const {
  if (!core_)
    return stopped_error();
  return core_->make_buffer(size, fallback);
}

bool node::attached() const noexcept {
  return core_ && core_->running();
}

void node::stop() const {
  if (core_)
    core_->stop();
}

caf::error node::stopped_error() const {
  if (core_)
    return core_->stopped_error();
  return make_error(errc::not_attached,
                    "this bus node handle was never started; get one from node::start");
}

uint64_t node::interface_of(const std::set<std::string>& signatures) {
  // FNV-1a over the sorted signatures: stable across processes and builds.
  uint64_t h = 14695981039346656037ull;
  for (auto& sig : signatures) {
    for (auto c : sig)
      h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
  }
  return h == 0 ? 1 : h;
}

caf::error node::publish(const caf::actor& x, const std::string& name) const {
  return publish_impl(caf::actor_cast<caf::strong_actor_ptr>(x), name, 0);
}

caf::error node::publish_impl(caf::strong_actor_ptr x, const std::string& name,
                              uint64_t interface) const {
  if (!core_)
    return stopped_error();
  return core_->publish(std::move(x), name, interface);
}

caf::error node::unpublish(const std::string& name) const {
  if (!core_)
    return stopped_error();
  return core_->unpublish(name);
}

caf::expected<caf::actor> node::lookup(const std::string& name) const {
  return lookup_impl(name, caf::timespan{0}, 0);
}

caf::expected<caf::actor> node::lookup(const std::string& name,
                                       caf::timespan timeout) const {
  return lookup_impl(name, timeout, 0);
}

caf::expected<caf::actor> node::lookup_impl(const std::string& name,
                                            caf::timespan timeout,
                                            uint64_t interface) const {
  if (!core_)
    return stopped_error();
  return core_->lookup(name, timeout, interface);
}

caf::timespan node::lookup_reply_margin() const {
  caf::timespan margin = std::chrono::seconds{1};
  if (core_ && core_->settings().remote)
    margin += core_->settings().remote_timeout;
  return margin;
}

name_service_actor node::name_service() const {
  return core_ ? core_->name_service_handle() : name_service_actor{};
}

caf::error node::request_stop(int pid) const {
  if (!core_)
    return stopped_error();
  return core_->request_stop(pid);
}

stop_reason node::await_stop_request(caf::timespan timeout) const {
  if (!core_)
    return {stop_cause::stopped, "this bus node handle was never started"};
  return core_->await_stop_request(timeout);
}

const bus_settings& node::settings() const noexcept {
  static const bus_settings none;
  return core_ ? core_->settings() : none;
}

caf::actor_system& node::system() const noexcept {
  return core_->system();
}

bool node::is_server() const noexcept {
  return settings().role == "server";
}

std::vector<peer_view> node::peers() const {
  return core_ ? core_->peers() : std::vector<peer_view>{};
}

std::optional<loss_report> node::loss_of(int pid) const {
  return core_ ? core_->loss_of(pid) : std::nullopt;
}

remote_view node::remote() const {
  return core_ ? core_->remote() : remote_view{};
}

uint64_t node::undelivered() const noexcept {
  return core_ ? core_->undelivered() : 0;
}

std::vector<group_view> node::groups() const {
  return core_ ? core_->groups() : std::vector<group_view>{};
}

uint64_t node::rejected_records() const noexcept {
  return core_ ? core_->rejected_records() : 0;
}

uint64_t node::refused_spawn_requests() const noexcept {
  return core_ ? core_->refused_spawns() : 0;
}

transport::node& node::transport_node() const noexcept {
  return core_->transport_node();
}

} // namespace shmbus::bus
