// What a process needs to know to start or join a bus: the `shmbus.*`
// options of its actor_system_config. Sizes and timing default to the
// transport's (transport/config.hpp, their one place); the rest are the
// bus's own.
#pragma once

#include <cstddef>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include "shmbus/transport/config.hpp"

namespace shmbus::bus {

struct bus_settings {
  /// Bus name: [A-Za-z0-9._-], 1 to transport::limits::max_bus_name_length
  /// bytes. Required.
  std::string bus;
  /// "server" creates the bus, "client" joins it.
  std::string role = "client";
  /// Shown by shmbusctl and in loss reports; defaults to "<program>-<pid>".
  /// At most transport::limits::max_name_length bytes.
  std::string node_name;
  /// Server only (clients use the bus's): liveness timing and sizes.
  caf::timespan heartbeat_interval = transport::defaults::heartbeat_interval;
  caf::timespan heartbeat_timeout = transport::defaults::heartbeat_timeout;
  size_t inbox_size = transport::bus_limits{}.inbox_bytes;
  size_t max_message_size = transport::bus_limits{}.max_message_bytes;
  size_t node_slots = transport::bus_limits{}.node_slots;
  size_t name_entries = transport::bus_limits{}.name_entries;
  /// Server only: "on" (a CRC32C per record, checked by every receiver) or
  /// "off".
  std::string checksums = transport::defaults::checksums ? "on" : "off";
  size_t supervision_entries = transport::bus_limits{}.supervision_entries;
  size_t error_entries = transport::bus_limits{}.error_entries;
  /// Server only: bytes of the buffer pool for shared buffers (0: none),
  /// its largest block (4 KiB * 4^k) and how many buffer references one
  /// process may hold at once (shared_buffer.hpp).
  size_t pool_size = transport::bus_limits{}.pool_bytes;
  size_t pool_max_block = transport::bus_limits{}.pool_max_block;
  size_t pool_holder_entries = transport::bus_limits{}.pool_holder_entries;
  /// Server only: permission bits of the bus's files, in octal. "0600": this
  /// user's processes only; "0660": every member of the files' group too
  /// (the server's group; see README, "Multi-user").
  std::string file_mode = default_file_mode();
  /// How the I/O thread waits for messages: "adaptive" (spin, yield, then
  /// park), "busy-spin", "park" or "adaptive:<spin us>:<yield us>".
  std::string idle_strategy = "adaptive";
  /// What a client's program does when its server is lost. The bus itself
  /// never ends its host: it delivers the down messages, then reports
  /// stop_cause::server_lost to await_stop_request(). "exit" asks run_module
  /// (module programs use it unless told otherwise) to stop its actors in
  /// order and return `server_lost_exit_code` from main, so that a launcher
  /// restarts everything (the seed's rule); "continue": run_module returns
  /// 0 instead, and plain programs decide themselves.
  std::string on_server_lost = "continue";
  int server_lost_exit_code = 75; // EX_TEMPFAIL
  /// What a node does when its peers declared it lost (it hung, or someone
  /// wrote its slot) while it still runs: "leave" stops the node with
  /// stop_cause::evicted (proxies die, requests fail, local monitors see
  /// the down messages); "rejoin" comes back as a new incarnation, after
  /// the same down messages for every remote actor it knew.
  std::string on_evicted = "leave";
  /// Whether this node SIGKILLs a peer the kernel proves hung. It is
  /// declared lost either way; false leaves the process to a debugger (it
  /// finds itself evicted when it runs again).
  bool kill_hung_peers = true;
  /// Bytes of records this node holds for one peer whose inbox is full,
  /// and for all peers together (each record counted with its bookkeeping).
  /// Past either bound a record fails at once with errc::inbox_full.
  size_t max_queued_bytes_per_peer = size_t{8} << 20;
  size_t max_queued_bytes = size_t{64} << 20;
  /// Requests to other processes that wait for their answer at most; past
  /// it the oldest fails with errc::too_many_requests.
  size_t max_pending_requests = 65536;
  /// How long a sender waits for room in a full inbox before failing.
  caf::timespan full_inbox_timeout = transport::defaults::full_inbox_timeout;
  /// Client: how long to wait for a server that is still setting up.
  caf::timespan attach_timeout = transport::defaults::attach_timeout;
  /// Server: how long to wait for clients of a previous server to exit.
  caf::timespan wait_for_clients = caf::timespan{0};
  /// "inline": actors woken by a remote message run on the bus's I/O thread
  /// (no scheduler wake-up on the latency path); "scheduler": they go to
  /// CAF's scheduler like any other message.
  std::string dispatch = "inline";
  /// With inline dispatch: how long one actor may run on the bus's I/O
  /// thread before the standby I/O thread takes over the inbox, so that one
  /// busy actor holds up neither the process's other actors nor its
  /// heartbeat. Less than half the heartbeat timeout.
  caf::timespan inline_budget = std::chrono::milliseconds{10};
  /// The CPU the bus's I/O thread runs on, and only that thread (the
  /// standby thread and CAF's workers stay where the process may run); -1
  /// leaves it to the kernel. For latency-bound deployments that keep that
  /// CPU for it: records are read, and inline actors run, without
  /// migrations. The CPU must be one this process may run on.
  int io_cpu = -1;
  /// Threshold of shmbus::log, set process-wide when the node starts:
  /// "debug", "info", "warning", "error" or "off". Empty: leave it alone
  /// (info, unless the program called shmbus::log::set_level).
  std::string log_level;

  /// Several machines (README, "Several machines"): whether this process
  /// joins the cluster of machines over CAF's BASP (`shmbus.remote.enabled`).
  /// Every process of a machine that takes part needs it, its server too
  /// (the server answers other machines for all of them).
  bool remote = false;
  /// The address this process's BASP port listens on and that other
  /// machines connect to unless remote_advertise says otherwise
  /// (`shmbus.remote.host`).
  std::string remote_host = "127.0.0.1";
  /// The address other machines are told to connect to, when it differs
  /// from remote_host: a wildcard host ("0.0.0.0", "::") listens on every
  /// address, this one names the machine on the cluster network (a NAT or
  /// container address too). Empty: remote_host (`shmbus.remote.advertise`).
  std::string remote_advertise;
  /// Its BASP port; 0: any free port (`shmbus.remote.port`). Seeds name the
  /// servers' ports, so a server that other machines seed from needs a
  /// fixed one.
  uint16_t remote_port = 0;
  /// "host:port" of the servers of other machines (`shmbus.remote.seeds`).
  std::vector<std::string> remote_seeds;
  /// How often this process asks the other machines' directories for
  /// processes it has no connection to yet (`shmbus.remote.refresh-interval`).
  caf::timespan remote_refresh = std::chrono::seconds{1};
  /// How long one connection attempt or one question to another machine
  /// may take (`shmbus.remote.timeout`).
  caf::timespan remote_timeout = std::chrono::seconds{2};

  /// BASP heartbeats, set as `middleman.heartbeat-interval` and
  /// `middleman.connection-timeout` on every process with remote on unless
  /// the config sets them: a lost machine is detected after the timeout
  /// plus at most one interval (under 1 s).
  static constexpr caf::timespan default_remote_heartbeat_interval = std::chrono::milliseconds{200};
  static constexpr caf::timespan default_remote_connection_timeout = std::chrono::milliseconds{600};

  /// transport::defaults::file_mode in octal ("0600").
  static std::string default_file_mode();

  /// The permission bits `file_mode` says; nullopt unless it is 3 or 4
  /// octal digits that give the owner read and write and nobody execute.
  static std::optional<unsigned> parse_file_mode(const std::string& text);

  /// What the machine's directory tells other machines to connect to:
  /// remote_advertise, or remote_host when that is empty.
  const std::string& advertised_host() const noexcept {
    return remote_advertise.empty() ? remote_host : remote_advertise;
  }

  /// True for "0.0.0.0" and "::": every address to listen on, none to
  /// connect to.
  static bool wildcard_host(const std::string& host) noexcept {
    return host == "0.0.0.0" || host == "::";
  }

  /// "host:port" split; nullopt unless both are there and the port is
  /// 1..65535.
  static std::optional<std::pair<std::string, uint16_t>> parse_endpoint(const std::string& text);

  /// Reads the settings from `cfg`: from a shmbus::bus::config directly,
  /// otherwise from its `shmbus.*` entries. Fails with a message naming the
  /// option when a value is invalid.
  static caf::expected<bus_settings> from(const caf::actor_system_config& cfg);

  /// Checks every value; the error names the option and what it accepts.
  caf::error validate() const;

  // Thread safety: a plain value; copies are independent.
};

} // namespace shmbus::bus
