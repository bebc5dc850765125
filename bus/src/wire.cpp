#include "wire.hpp"

namespace shmbus::bus::wire {

const char* kind_name(uint8_t k) noexcept {
  switch (static_cast<kind>(k)) {
    case kind::message: return "message";
    case kind::watch: return "watch";
    case kind::down: return "down";
    case kind::link: return "link";
    case kind::unlink: return "unlink";
    case kind::exit: return "exit";
    case kind::stop: return "stop";
    case kind::group_join: return "group_join";
    case kind::group_leave: return "group_leave";
    case kind::group_message: return "group_message";
  }
  return "unknown";
}

node_bytes to_bytes(const caf::node_id& x) {
  node_bytes out{};
  if (!x || x->implementation_id() != caf::node_id::default_data::class_id)
    return out;
  auto& data = static_cast<const caf::node_id::default_data&>(*x);
  uint32_t pid = data.process_id();
  auto& host = data.host_id();
  std::memcpy(out.data(), &pid, 4);
  std::memcpy(out.data() + 4, host.data(), host.size());
  return out;
}

caf::node_id from_bytes(const std::byte* data) {
  uint32_t pid;
  caf::node_id::default_data::host_id_type host;
  std::memcpy(&pid, data, 4);
  std::memcpy(host.data(), data + 4, host.size());
  if (pid == 0 || !caf::node_id::default_data::valid(host))
    return caf::node_id{};
  return caf::make_node_id(pid, host);
}

} // namespace shmbus::bus::wire
