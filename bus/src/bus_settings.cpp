#include "shmbus/bus/bus_settings.hpp"

#include <cstdio>

#include <sched.h>

#include <caf/actor_system_config.hpp>
#include <caf/settings.hpp>

#include "shmbus/bus/config.hpp"
#include "shmbus/bus/errc.hpp"
#include "shmbus/log/log_level.hpp"
#include "shmbus/transport/bus_name.hpp"
#include "shmbus/transport/idle_strategy.hpp"
#include "shmbus/transport/segment.hpp"

namespace shmbus::bus {

namespace {

caf::error bad(const std::string& option, const std::string& what) {
  return caf::make_error(caf::sec::invalid_argument,
                         "option shmbus." + option + ": " + what);
}

} // namespace

caf::expected<bus_settings> bus_settings::from(const caf::actor_system_config& cfg) {
  if (auto* ours = dynamic_cast<const config*>(&cfg)) {
    if (auto err = ours->shmbus.validate())
      return err;
    return ours->shmbus;
  }
  // A config of the application's own: read what was set, keep defaults.
  bus_settings x;
  auto str = [&](const char* key, std::string& field) {
    field = caf::get_or(cfg, std::string("shmbus.") + key, field);
  };
  auto span = [&](const char* key, caf::timespan& field) {
    field = caf::get_or(cfg, std::string("shmbus.") + key, field);
  };
  auto size = [&](const char* key, size_t& field) {
    field = caf::get_or(cfg, std::string("shmbus.") + key, field);
  };
  str("bus", x.bus);
  str("role", x.role);
  str("node-name", x.node_name);
  span("heartbeat-interval", x.heartbeat_interval);
  span("heartbeat-timeout", x.heartbeat_timeout);
  size("inbox-size", x.inbox_size);
  size("max-message-size", x.max_message_size);
  size("node-slots", x.node_slots);
  size("name-entries", x.name_entries);
  str("checksums", x.checksums);
  size("supervision-entries", x.supervision_entries);
  size("error-entries", x.error_entries);
  size("pool-size", x.pool_size);
  size("pool-max-block", x.pool_max_block);
  size("pool-holder-entries", x.pool_holder_entries);
  str("file-mode", x.file_mode);
  str("idle-strategy", x.idle_strategy);
  str("on-server-lost", x.on_server_lost);
  x.server_lost_exit_code
    = caf::get_or(cfg, "shmbus.server-lost-exit-code", x.server_lost_exit_code);
  str("on-evicted", x.on_evicted);
  x.kill_hung_peers = caf::get_or(cfg, "shmbus.kill-hung-peers", x.kill_hung_peers);
  size("max-queued-bytes-per-peer", x.max_queued_bytes_per_peer);
  size("max-queued-bytes", x.max_queued_bytes);
  size("max-pending-requests", x.max_pending_requests);
  span("full-inbox-timeout", x.full_inbox_timeout);
  span("attach-timeout", x.attach_timeout);
  span("wait-for-clients", x.wait_for_clients);
  str("dispatch", x.dispatch);
  span("inline-budget", x.inline_budget);
  x.io_cpu = caf::get_or(cfg, "shmbus.io-cpu", x.io_cpu);
  str("log-level", x.log_level);
  x.remote = caf::get_or(cfg, "shmbus.remote.enabled", x.remote);
  str("remote.host", x.remote_host);
  str("remote.advertise", x.remote_advertise);
  x.remote_port = caf::get_or(cfg, "shmbus.remote.port", x.remote_port);
  x.remote_seeds = caf::get_or(cfg, "shmbus.remote.seeds", x.remote_seeds);
  span("remote.refresh-interval", x.remote_refresh);
  span("remote.timeout", x.remote_timeout);
  if (auto err = x.validate())
    return err;
  return x;
}

caf::error bus_settings::validate() const {
  if (bus.empty())
    return bad("bus", "no bus name given; set --shmbus.bus=NAME or [shmbus] bus=\"NAME\"");
  if (auto err = transport::validate_bus_name(bus))
    return make_error(errc::invalid_bus_name, err->message);
  if (role != "server" && role != "client")
    return bad("role", "'" + role + "' is neither \"server\" nor \"client\"");
  if (node_name.size() > transport::limits::max_name_length)
    return bad("node-name",
               "at most " + std::to_string(transport::limits::max_name_length) + " bytes");
  if (heartbeat_interval.count() <= 0 || heartbeat_timeout <= 2 * heartbeat_interval)
    return bad("heartbeat-timeout",
               "must exceed twice shmbus.heartbeat-interval (a peer must miss "
               "several heartbeats before it counts as hung)");
  transport::bus_limits limits;
  limits.node_slots = static_cast<uint32_t>(node_slots);
  limits.inbox_bytes = static_cast<uint32_t>(inbox_size);
  limits.max_message_bytes = static_cast<uint32_t>(max_message_size);
  limits.name_entries = static_cast<uint32_t>(name_entries);
  limits.supervision_entries = static_cast<uint32_t>(supervision_entries);
  limits.error_entries = static_cast<uint32_t>(error_entries);
  limits.pool_bytes = pool_size;
  limits.pool_max_block = pool_max_block;
  limits.pool_holder_entries = static_cast<uint32_t>(pool_holder_entries);
  if (pool_holder_entries > UINT32_MAX)
    return bad("pool-holder-entries", "must fit in 32 bits");
  if (node_slots > UINT32_MAX || inbox_size > UINT32_MAX || max_message_size > UINT32_MAX
      || name_entries > UINT32_MAX || supervision_entries > UINT32_MAX
      || error_entries > UINT32_MAX)
    return bad("inbox-size", "sizes must fit in 32 bits");
  if (auto err = transport::segment::validate_limits(limits))
    return bad("inbox-size/max-message-size/node-slots/name-entries/"
               "supervision-entries/error-entries/pool-size/pool-max-block/"
               "pool-holder-entries",
               err->message);
  if (checksums != "on" && checksums != "off")
    return bad("checksums", "'" + checksums + "' is neither \"on\" nor \"off\"");
  if (!parse_file_mode(file_mode))
    return bad("file-mode", "'" + file_mode
                              + "' is not a mode such as \"0600\" or \"0660\" (octal, "
                                "the owner may read and write, nobody may execute)");
  if (!log_level.empty() && !log::parse_level(log_level))
    return bad("log-level", "'" + log_level
                              + "' is not debug, info, warning, error or off");
  if (!transport::parse_idle_strategy(idle_strategy))
    return bad("idle-strategy", "'" + idle_strategy
                                  + "' is not busy-spin, adaptive, park or "
                                    "adaptive:<spin us>:<yield us>");
  if (on_server_lost != "exit" && on_server_lost != "continue")
    return bad("on-server-lost", "'" + on_server_lost + "' is neither \"exit\" nor \"continue\"");
  if (on_evicted != "leave" && on_evicted != "rejoin")
    return bad("on-evicted", "'" + on_evicted + "' is neither \"leave\" nor \"rejoin\"");
  if (max_queued_bytes_per_peer == 0 || max_queued_bytes == 0)
    return bad("max-queued-bytes", "the bounds of held records must be at least one byte");
  if (max_pending_requests == 0)
    return bad("max-pending-requests", "at least one request must be able to wait");
  if (dispatch != "inline" && dispatch != "scheduler")
    return bad("dispatch", "'" + dispatch + "' is neither \"inline\" nor \"scheduler\"");
  if (inline_budget.count() <= 0 || 2 * inline_budget >= heartbeat_timeout)
    return bad("inline-budget",
               "must be positive and less than half shmbus.heartbeat-timeout (the standby "
               "I/O thread must take over before the process counts as stuck)");
  if (io_cpu < -1 || io_cpu >= CPU_SETSIZE)
    return bad("io-cpu", "'" + std::to_string(io_cpu) + "' is not a CPU number (0 to "
                           + std::to_string(CPU_SETSIZE - 1) + ", or -1 for none)");
  if (io_cpu >= 0) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (::sched_getaffinity(0, sizeof(allowed), &allowed) == 0 && !CPU_ISSET(io_cpu, &allowed)) {
      std::string cpus;
      for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (CPU_ISSET(cpu, &allowed))
          cpus += (cpus.empty() ? "" : ",") + std::to_string(cpu);
      return bad("io-cpu", "this process may not run on CPU " + std::to_string(io_cpu)
                             + " (it may on " + cpus + "); pick one of those, or -1");
    }
  }
  if (full_inbox_timeout.count() < 0 || attach_timeout.count() < 0
      || wait_for_clients.count() < 0)
    return bad("full-inbox-timeout", "timeouts cannot be negative");
  if (remote_host.empty())
    return bad("remote.host", "no address given; the address other machines reach this "
                              "process at, e.g. \"10.0.0.5\"");
  if (wildcard_host(remote_advertise))
    return bad("remote.advertise", "'" + remote_advertise
                                     + "' is a wildcard: other machines cannot connect to it; "
                                       "give this machine's address on the cluster network, "
                                       "e.g. \"10.0.0.5\"");
  for (auto& seed : remote_seeds)
    if (!parse_endpoint(seed))
      return bad("remote.seeds", "'" + seed + "' is not \"host:port\" (port 1 to 65535)");
  if (remote_refresh.count() <= 0 || remote_timeout.count() <= 0)
    return bad("remote.refresh-interval", "shmbus.remote.refresh-interval and "
                                          "shmbus.remote.timeout must be positive");
  return caf::none;
}

std::string bus_settings::default_file_mode() {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", transport::defaults::file_mode);
  return buf;
}

std::optional<unsigned> bus_settings::parse_file_mode(const std::string& text) {
  if (text.size() < 3 || text.size() > 4)
    return std::nullopt;
  unsigned mode = 0;
  for (auto c : text) {
    if (c < '0' || c > '7')
      return std::nullopt;
    mode = mode * 8 + static_cast<unsigned>(c - '0');
  }
  // Set-id and sticky bits mean nothing for shared memory; the owner must
  // be able to map what it creates; executing a segment makes no sense.
  if (mode > 0777 || (mode & 0600) != 0600 || (mode & 0111) != 0)
    return std::nullopt;
  return mode;
}

std::optional<std::pair<std::string, uint16_t>>
bus_settings::parse_endpoint(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()
      || text.size() - colon - 1 > 5)
    return std::nullopt;
  unsigned port = 0;
  for (auto i = colon + 1; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9')
      return std::nullopt;
    port = port * 10 + static_cast<unsigned>(text[i] - '0');
  }
  if (port == 0 || port > 65535)
    return std::nullopt;
  return std::make_pair(text.substr(0, colon), static_cast<uint16_t>(port));
}

} // namespace shmbus::bus
