#include "shmbus/bus/config.hpp"

#include <caf/config_option_adder.hpp>
#include <caf/io/middleman.hpp>

#include "shmbus/bus/bus_module.hpp"
#include "shmbus/bus/bus_scheduler.hpp"
#include "shmbus/bus/errc.hpp"
#include "shmbus/bus/shared_buffer.hpp"
#include "shmbus/transport/config.hpp"

namespace shmbus::bus {

config::config() {
  opt_group{custom_options_, "shmbus"}
    .add(shmbus.bus, "bus",
         "name of the bus to create or join ([A-Za-z0-9._-], 1 to "
           + std::to_string(transport::limits::max_bus_name_length) + " bytes)")
    .add(shmbus.role, "role", "\"server\" creates the bus, \"client\" joins it")
    .add(shmbus.node_name, "node-name", "name of this process on the bus")
    .add(shmbus.heartbeat_interval, "heartbeat-interval",
         "server: how often every node shows it is alive")
    .add(shmbus.heartbeat_timeout, "heartbeat-timeout",
         "server: silence after which a node counts as hung")
    .add(shmbus.inbox_size, "inbox-size", "server: bytes of each node's inbox (power of 2)")
    .add(shmbus.max_message_size, "max-message-size", "server: largest serialized message")
    .add(shmbus.node_slots, "node-slots", "server: most processes on the bus")
    .add(shmbus.name_entries, "name-entries", "server: most published names")
    .add(shmbus.checksums, "checksums", "server: \"on\" (a CRC32C per record) or \"off\"")
    .add(shmbus.supervision_entries, "supervision-entries",
         "server: rows of the supervision table (a supervisor and each child take one)")
    .add(shmbus.error_entries, "error-entries",
         "server: distinct errors the bus's error log keeps")
    .add(shmbus.pool_size, "pool-size",
         "server: bytes of the buffer pool for shared buffers (0: none)")
    .add(shmbus.pool_max_block, "pool-max-block",
         "server: largest shared buffer, 4 KiB times a power of 4")
    .add(shmbus.pool_holder_entries, "pool-holder-entries",
         "server: shared-buffer references one process may hold at once")
    .add(shmbus.file_mode, "file-mode",
         "server: permission bits of the bus's files, octal: \"0600\" or \"0660\" (group)")
    .add(shmbus.idle_strategy, "idle-strategy",
         "adaptive | busy-spin | park | adaptive:<spin us>:<yield us>")
    .add(shmbus.on_server_lost, "on-server-lost",
         "client: \"continue\" or \"exit\" (run_module returns server-lost-exit-code)")
    .add(shmbus.server_lost_exit_code, "server-lost-exit-code",
         "client: run_module's exit code when the server is lost")
    .add(shmbus.on_evicted, "on-evicted",
         "when peers declared this node lost: \"leave\" or \"rejoin\"")
    .add(shmbus.kill_hung_peers, "kill-hung-peers",
         "SIGKILL a peer the kernel proves hung (false: leave it to a debugger)")
    .add(shmbus.max_queued_bytes_per_peer, "max-queued-bytes-per-peer",
         "bytes of records held for one peer whose inbox is full")
    .add(shmbus.max_queued_bytes, "max-queued-bytes",
         "bytes of records held for all peers whose inboxes are full")
    .add(shmbus.max_pending_requests, "max-pending-requests",
         "requests to other processes waiting for answers; past it the oldest fails")
    .add(shmbus.full_inbox_timeout, "full-inbox-timeout",
         "how long a sender waits for room in a full inbox")
    .add(shmbus.attach_timeout, "attach-timeout",
         "client: how long to wait for a server that is setting up")
    .add(shmbus.wait_for_clients, "wait-for-clients",
         "server: how long to wait for clients of a previous server to exit")
    .add(shmbus.dispatch, "dispatch",
         "\"inline\": remote messages run their actors on the bus thread; \"scheduler\"")
    .add(shmbus.inline_budget, "inline-budget",
         "inline dispatch: how long one actor may hold the bus thread before the "
         "standby thread takes over the inbox")
    .add(shmbus.io_cpu, "io-cpu",
         "the CPU the bus's I/O thread (only it) is pinned to; -1: not pinned")
    .add(shmbus.log_level, "log-level",
         "threshold of shmbus's log: debug | info | warning | error | off");
  opt_group{custom_options_, "shmbus.remote"}
    .add(shmbus.remote, "enabled",
         "join the cluster of machines over CAF's BASP (every process of the machine)")
    .add(shmbus.remote_host, "host", "address this process listens on for other machines")
    .add(shmbus.remote_advertise, "advertise",
         "address other machines are told to connect to (empty: host); for a "
         "wildcard host")
    .add(shmbus.remote_port, "port", "BASP port of this process (0: any free one)")
    .add(shmbus.remote_seeds, "seeds", "\"host:port\" of the servers of other machines")
    .add(shmbus.remote_refresh, "refresh-interval",
         "how often to ask other machines for processes not connected yet")
    .add(shmbus.remote_timeout, "timeout",
         "how long one connection attempt or question to another machine may take");
  load<bus_scheduler>();
  load<caf::io::middleman>();
  load<bus_module>();
  bus::add_error_category(*this);
  add_message_type<shared_buffer>("shmbus::shared_buffer");
  // Measured on 2-core VMs: the work-sharing scheduler wakes an idle worker
  // faster than work stealing and burns no CPU while idle.
  set("scheduler.policy", caf::atom("sharing"));
}

caf::settings config::dump_content() const {
  auto result = caf::actor_system_config::dump_content();
  auto& group = result["shmbus"].as_dictionary();
  caf::put_missing(group, "bus", shmbus.bus);
  caf::put_missing(group, "role", shmbus.role);
  caf::put_missing(group, "node-name", shmbus.node_name);
  caf::put_missing(group, "heartbeat-interval", shmbus.heartbeat_interval);
  caf::put_missing(group, "heartbeat-timeout", shmbus.heartbeat_timeout);
  caf::put_missing(group, "inbox-size", shmbus.inbox_size);
  caf::put_missing(group, "max-message-size", shmbus.max_message_size);
  caf::put_missing(group, "node-slots", shmbus.node_slots);
  caf::put_missing(group, "name-entries", shmbus.name_entries);
  caf::put_missing(group, "checksums", shmbus.checksums);
  caf::put_missing(group, "supervision-entries", shmbus.supervision_entries);
  caf::put_missing(group, "error-entries", shmbus.error_entries);
  caf::put_missing(group, "pool-size", shmbus.pool_size);
  caf::put_missing(group, "pool-max-block", shmbus.pool_max_block);
  caf::put_missing(group, "pool-holder-entries", shmbus.pool_holder_entries);
  caf::put_missing(group, "file-mode", shmbus.file_mode);
  caf::put_missing(group, "idle-strategy", shmbus.idle_strategy);
  caf::put_missing(group, "on-server-lost", shmbus.on_server_lost);
  caf::put_missing(group, "server-lost-exit-code", shmbus.server_lost_exit_code);
  caf::put_missing(group, "on-evicted", shmbus.on_evicted);
  caf::put_missing(group, "kill-hung-peers", shmbus.kill_hung_peers);
  caf::put_missing(group, "max-queued-bytes-per-peer", shmbus.max_queued_bytes_per_peer);
  caf::put_missing(group, "max-queued-bytes", shmbus.max_queued_bytes);
  caf::put_missing(group, "max-pending-requests", shmbus.max_pending_requests);
  caf::put_missing(group, "full-inbox-timeout", shmbus.full_inbox_timeout);
  caf::put_missing(group, "attach-timeout", shmbus.attach_timeout);
  caf::put_missing(group, "wait-for-clients", shmbus.wait_for_clients);
  caf::put_missing(group, "dispatch", shmbus.dispatch);
  caf::put_missing(group, "inline-budget", shmbus.inline_budget);
  caf::put_missing(group, "io-cpu", shmbus.io_cpu);
  caf::put_missing(group, "log-level", shmbus.log_level);
  auto& remote = group["remote"].as_dictionary();
  caf::put_missing(remote, "enabled", shmbus.remote);
  caf::put_missing(remote, "host", shmbus.remote_host);
  caf::put_missing(remote, "advertise", shmbus.remote_advertise);
  caf::put_missing(remote, "port", shmbus.remote_port);
  caf::put_missing(remote, "seeds", shmbus.remote_seeds);
  caf::put_missing(remote, "refresh-interval", shmbus.remote_refresh);
  caf::put_missing(remote, "timeout", shmbus.remote_timeout);
  return result;
}

} // namespace shmbus::bus
