// What a process needs to know to start or join a bus: the `shmbus.*`
// options of its actor_system_config. Sizes and timing default to the
// transport's (transport/config.hpp, their one place); the rest are the
// bus's own.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

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
  size_t supervision_entries = transport::bus_limits{}.supervision_entries;
  size_t error_entries = transport::bus_limits{}.error_entries;
  /// Server only: permission bits of the bus's files, in octal. "0600": this
  /// user's processes only; "0660": every member of the files' group too
  /// (the server's group; see README, "Multi-user").
  std::string file_mode = default_file_mode();
  /// How the I/O thread waits for messages: "adaptive" (spin, yield, then
  /// park), "busy-spin", "park" or "adaptive:<spin us>:<yield us>".
  std::string idle_strategy = "adaptive";
  /// What a client does when its server is lost: "exit" (the seed's rule:
  /// deliver the down messages, then exit with `server_lost_exit_code` so
  /// that a launcher restarts everything) or "continue" (only deliver them).
  std::string on_server_lost = "exit";
  int server_lost_exit_code = 75; // EX_TEMPFAIL
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
  /// Threshold of shmbus::log, set process-wide when the node starts:
  /// "debug", "info", "warning", "error" or "off". Empty: leave it alone
  /// (info, unless the program called shmbus::log::set_level).
  std::string log_level;

  /// transport::defaults::file_mode in octal ("0600").
  static std::string default_file_mode();

  /// The permission bits `file_mode` says; nullopt unless it is 3 or 4
  /// octal digits that give the owner read and write and nobody execute.
  static std::optional<unsigned> parse_file_mode(const std::string& text);

  /// Reads the settings from `cfg`: from a shmbus::bus::config directly,
  /// otherwise from its `shmbus.*` entries. Fails with a message naming the
  /// option when a value is invalid.
  static caf::expected<bus_settings> from(const caf::actor_system_config& cfg);

  /// Checks every value; the error names the option and what it accepts.
  caf::error validate() const;

  // Thread safety: a plain value; copies are independent.
};

} // namespace shmbus::bus
