// Why a process should stop, and what a client does when its server is lost.
// The seed's rule is "server crash: restart both": with on-server-lost=exit a
// client delivers its down messages, then exits with server-lost-exit-code
// so that its launcher restarts everything; with "continue" it only reports
// the loss to await_stop_request(). Stop requests from other processes (a
// supervisor stopping its module) arrive here too.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>

#include <caf/timespan.hpp>

#include "shmbus/bus/bus_settings.hpp"
#include "shmbus/bus/node.hpp"

namespace shmbus::bus {

class stop_policy {
public:
  explicit stop_policy(const bus_settings& settings);

  /// Another process (node name `by`) asked this one to stop. Thread-safe.
  void requested(const std::string& by);

  /// The server is gone, or the peers evicted this node (`why` says which).
  /// With on-server-lost=exit this ends the process shortly after (from
  /// another thread, so that the down messages get out first). Thread-safe.
  void server_lost(const std::string& why);

  /// The node stopped: waiters return, unless a cause came first.
  /// Thread-safe.
  void stopped();

  /// See node::await_stop_request(). Thread-safe.
  /// @warning Blocks the caller for up to `timeout`.
  stop_reason await(caf::timespan timeout);

private:
  void set(stop_reason reason, bool overwrite);

  const bus_settings& settings_;
  std::mutex mtx_;
  std::condition_variable cv_;
  stop_reason reason_;
};

} // namespace shmbus::bus
