#include "shmbus/bus/node.hpp"

#include "shmbus/transport/node.hpp"

#include "bus_core.hpp"

namespace shmbus::bus {

caf::expected<std::unique_ptr<node>> node::start(caf::actor_system& sys) {
  auto settings = bus_settings::from(sys.config());
  if (!settings)
    return std::move(settings.error());
  return start(sys, std::move(*settings));
}

caf::expected<std::unique_ptr<node>> node::start(caf::actor_system& sys,
                                                 bus_settings settings) {
  auto core = std::make_shared<bus_core>(sys, std::move(settings));
  if (auto err = core->start())
    return err;
  return std::unique_ptr<node>{new node(std::move(core))};
}

int process_id_of(const caf::node_id& node) {
  if (!node || node->implementation_id() != caf::node_id::default_data::class_id)
    return 0;
  return static_cast<int>(
    static_cast<const caf::node_id::default_data&>(*node).process_id());
}

node::node(std::shared_ptr<bus_core> core) : core_(std::move(core)) {
  // nop
}

node::~node() {
  stop();
}

void node::stop() {
  core_->stop();
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

caf::error node::publish(const caf::actor& x, const std::string& name) {
  return publish_impl(caf::actor_cast<caf::strong_actor_ptr>(x), name, 0);
}

caf::error node::publish_impl(caf::strong_actor_ptr x, const std::string& name,
                              uint64_t interface) {
  return core_->publish(std::move(x), name, interface);
}

caf::error node::unpublish(const std::string& name) {
  return core_->unpublish(name);
}

caf::expected<caf::actor> node::lookup(const std::string& name) {
  return core_->lookup(name, caf::timespan{0}, 0);
}

caf::expected<caf::actor> node::lookup(const std::string& name, caf::timespan timeout) {
  return core_->lookup(name, timeout, 0);
}

caf::expected<caf::actor> node::lookup_impl(const std::string& name,
                                            caf::timespan timeout, uint64_t interface) {
  return core_->lookup(name, timeout, interface);
}

caf::error node::request_stop(int pid) {
  return core_->request_stop(pid);
}

stop_reason node::await_stop_request(caf::timespan timeout) {
  return core_->await_stop_request(timeout);
}

const bus_settings& node::settings() const noexcept {
  return core_->settings();
}

caf::actor_system& node::system() noexcept {
  return core_->system();
}

bool node::is_server() const noexcept {
  return core_->settings().role == "server";
}

std::vector<peer_view> node::peers() const {
  return core_->peers();
}

std::optional<loss_report> node::loss_of(int pid) const {
  return core_->loss_of(pid);
}

uint64_t node::undelivered() const noexcept {
  return core_->undelivered();
}

transport::node& node::transport_node() noexcept {
  return core_->transport_node();
}

} // namespace shmbus::bus
