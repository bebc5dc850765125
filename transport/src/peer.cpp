#include "shmbus/transport/peer.hpp"

namespace shmbus::transport {

std::string peer_loss::describe() const {
  auto who = "node '" + peer.name + "' (slot " + std::to_string(peer.slot)
             + ", pid " + std::to_string(peer.pid) + ")";
  switch (cause) {
    case loss_cause::left: return who + " left";
    case loss_cause::exited: return who + " exited with code " + std::to_string(detail);
    case loss_cause::killed: return who + " was killed by signal " + std::to_string(detail);
    case loss_cause::vanished: return who + " is gone (exit status unknown)";
    case loss_cause::heartbeat_timeout:
      return who + " sent no heartbeat for " + std::to_string(detail) + " ms";
    case loss_cause::evicted: return who + " was declared lost by its peers";
    case loss_cause::none: break;
  }
  return who + " was lost";
}

peer_info read_peer_info(const node_slot& s, uint32_t slot, uint32_t incarnation) {
  peer_info info;
  info.slot = slot;
  info.incarnation = incarnation;
  info.pid = s.pid.load(std::memory_order_relaxed);
  info.role = static_cast<node_role>(s.role.load(std::memory_order_relaxed));
  info.name = s.name.load();
  s.user_data.load(info.user_data.data());
  return info;
}

node_counters read_counters(const node_slot& s) noexcept {
  auto get = [](const std::atomic<uint64_t>& c) {
    return c.load(std::memory_order_relaxed);
  };
  return {get(s.msgs_out),         get(s.bytes_out),       get(s.send_errors),
          get(s.full_inbox_waits), get(s.msgs_in),         get(s.bytes_in),
          get(s.corrupt_records),  get(s.stale_dropped),   get(s.skipped_claims)};
}

const std::array<counter_info, 9>& counter_infos() noexcept {
  static const std::array<counter_info, 9> infos{{
    {"msgs_out", "messages this node sent", &node_counters::msgs_out},
    {"bytes_out", "payload bytes this node sent", &node_counters::bytes_out},
    {"send_errors", "sends that failed (peer gone, inbox full, too large)",
     &node_counters::send_errors},
    {"full_inbox_waits", "sends that had to wait for room in a full inbox",
     &node_counters::full_inbox_waits},
    {"msgs_in", "messages this node received", &node_counters::msgs_in},
    {"bytes_in", "payload bytes this node received", &node_counters::bytes_in},
    {"corrupt_records", "corrupt records found in this node's inbox and skipped",
     &node_counters::corrupt_records},
    {"stale_dropped", "records addressed to an older incarnation and dropped",
     &node_counters::stale_dropped},
    {"skipped_claims", "records left unfinished by dead producers and skipped",
     &node_counters::skipped_claims},
  }};
  return infos;
}

} // namespace shmbus::transport
