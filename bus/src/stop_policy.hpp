// Why a process should stop: a stop request from another process (a
// supervisor stopping its module), the loss of its server, its eviction, or
// the node's own stop. The bus never ends its host process: it reports the
// cause to await_stop_request() once every down message of the event was
// enqueued, and the program decides (run_module applies the seed's rule
// "server crash: restart both" by returning server-lost-exit-code).
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>

#include <caf/timespan.hpp>

#include "shmbus/bus/node.hpp"

namespace shmbus::bus {

class stop_policy {
public:
  /// Another process (node name `by`) asked this one to stop. Thread-safe.
  void requested(const std::string& by);

  /// The server is gone (`why` says how); the down messages of its actors
  /// were enqueued already. Thread-safe.
  void server_lost(const std::string& why);

  /// The peers declared this node lost and it leaves the bus (`why` says
  /// what happened). Thread-safe.
  void evicted(const std::string& why);

  /// The node stopped: waiters return, unless a cause came first.
  /// Thread-safe.
  void stopped();

  /// See node::await_stop_request(). Thread-safe.
  /// @warning Blocks the caller for up to `timeout`.
  stop_reason await(caf::timespan timeout);

  /// The cause reported so far (stop_cause::timeout: none). Thread-safe.
  stop_reason current() const;

private:
  void set(stop_reason reason, bool overwrite);

  mutable std::mutex mtx_;
  std::condition_variable cv_;
  stop_reason reason_;
};

} // namespace shmbus::bus
