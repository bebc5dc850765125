#include "shmbus/transport/node_slot.hpp"

namespace shmbus::transport {

const char* to_string(node_state x) noexcept {
  switch (x) {
    case node_state::free: return "free";
    case node_state::joining: return "joining";
    case node_state::alive: return "alive";
    case node_state::leaving: return "leaving";
    case node_state::lost: return "lost";
    case node_state::dead: return "dead";
  }
  return "unknown";
}

const char* to_string(loss_cause x) noexcept {
  switch (x) {
    case loss_cause::none: return "none";
    case loss_cause::left: return "left";
    case loss_cause::exited: return "exited";
    case loss_cause::killed: return "killed";
    case loss_cause::vanished: return "vanished";
    case loss_cause::heartbeat_timeout: return "heartbeat_timeout";
    case loss_cause::evicted: return "evicted";
    case loss_cause::stalled: return "stalled";
  }
  return "unknown";
}

} // namespace shmbus::transport
