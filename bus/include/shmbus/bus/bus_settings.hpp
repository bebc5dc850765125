// What a process needs to know to start or join a bus: the `shmbus.*`
// options of its actor_system_config, with their defaults in one place.
#pragma once

#include <cstddef>
#include <string>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

namespace shmbus::bus {

struct bus_settings {
  /// Bus name, [A-Za-z0-9._-]{1,64}. Required.
  std::string bus;
  /// "server" creates the bus, "client" joins it.
  std::string role = "client";
  /// Shown by shmbusctl and in loss reports; defaults to "<program>-<pid>".
  std::string node_name;
  /// Server only (clients use the bus's): liveness timing and sizes.
  caf::timespan heartbeat_interval = std::chrono::milliseconds{100};
  caf::timespan heartbeat_timeout = std::chrono::seconds{1};
  size_t inbox_size = size_t{1} << 20;
  size_t max_message_size = size_t{64} << 10;
  size_t node_slots = 64;
  size_t name_entries = 256;
  /// How the I/O thread waits for messages: "adaptive" (spin, yield, then
  /// park), "busy-spin", "park" or "adaptive:<spin us>:<yield us>".
  std::string idle_strategy = "adaptive";
  /// What a client does when its server is lost: "exit" (the seed's rule:
  /// deliver the down messages, then exit with `server_lost_exit_code` so
  /// that a launcher restarts everything) or "continue" (only deliver them).
  std::string on_server_lost = "exit";
  int server_lost_exit_code = 75; // EX_TEMPFAIL
  /// How long a sender waits for room in a full inbox before failing.
  caf::timespan full_inbox_timeout = std::chrono::seconds{2};
  /// Client: how long to wait for a server that is still setting up.
  caf::timespan attach_timeout = std::chrono::seconds{2};
  /// Server: how long to wait for clients of a previous server to exit.
  caf::timespan wait_for_clients = caf::timespan{0};
  /// "inline": actors woken by a remote message run on the bus's I/O thread
  /// (no scheduler wake-up on the latency path); "scheduler": they go to
  /// CAF's scheduler like any other message.
  std::string dispatch = "inline";

  /// Reads the settings from `cfg`: from a shmbus::bus::config directly,
  /// otherwise from its `shmbus.*` entries. Fails with a message naming the
  /// option when a value is invalid.
  static caf::expected<bus_settings> from(const caf::actor_system_config& cfg);

  /// Checks every value; the error names the option and what it accepts.
  caf::error validate() const;
};

} // namespace shmbus::bus
