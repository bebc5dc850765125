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
    case loss_cause::stalled:
      return who + ": its bus thread was stuck for " + std::to_string(detail)
             + " ms (it declared itself lost)";
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
  return {get(s.msgs_out),          get(s.bytes_out),         get(s.send_errors),
          get(s.full_inbox_waits),  get(s.producer_repairs),  get(s.msgs_in),
          get(s.bytes_in),          get(s.corrupt_records),   get(s.stale_dropped),
          get(s.skipped_claims),    get(s.checksum_failures), get(s.ring_repairs),
          get(s.bytes_lost),        get(s.slot_repairs),      get(s.heartbeat_repairs),
          get(s.false_identities),  get(s.stale_heartbeats)};
}

uint64_t problem_count(const node_counters& c) noexcept {
  return c.send_errors + c.producer_repairs + c.corrupt_records + c.checksum_failures
         + c.ring_repairs + c.slot_repairs + c.heartbeat_repairs + c.false_identities
         + c.stale_heartbeats;
}

const std::array<counter_info, counter_count>& counter_infos() noexcept {
  static const std::array<counter_info, counter_count> infos{{
    {"msgs_out", "messages this node sent", &node_counters::msgs_out},
    {"bytes_out", "payload bytes this node sent", &node_counters::bytes_out},
    {"send_errors", "sends that failed (peer gone, inbox full, too large)",
     &node_counters::send_errors},
    {"full_inbox_waits", "sends that had to wait for room in a full inbox",
     &node_counters::full_inbox_waits},
    {"producer_repairs", "impossible inbox tails or head caches this node's senders put right",
     &node_counters::producer_repairs},
    {"msgs_in", "messages this node received", &node_counters::msgs_in},
    {"bytes_in", "payload bytes this node received", &node_counters::bytes_in},
    {"corrupt_records", "corrupt records found in this node's inbox and skipped",
     &node_counters::corrupt_records},
    {"stale_dropped", "records addressed to an older incarnation and dropped",
     &node_counters::stale_dropped},
    {"skipped_claims", "records left unfinished by dead producers and skipped",
     &node_counters::skipped_claims},
    {"checksum_failures", "records in this node's inbox that failed their CRC32C",
     &node_counters::checksum_failures},
    {"ring_repairs", "control words of this node's inbox its audit put right",
     &node_counters::ring_repairs},
    {"bytes_lost", "bytes of this node's inbox skipped as garbage",
     &node_counters::bytes_lost},
    {"slot_repairs", "words of this node's slot another process changed and it restored",
     &node_counters::slot_repairs},
    {"heartbeat_repairs", "times another process set this node's heartbeat back",
     &node_counters::heartbeat_repairs},
    {"false_identities", "peers whose pid word the kernel contradicted",
     &node_counters::false_identities},
    {"stale_heartbeats", "peers whose heartbeat stood still while their consumer ran",
     &node_counters::stale_heartbeats},
  }};
  return infos;
}

} // namespace shmbus::transport
