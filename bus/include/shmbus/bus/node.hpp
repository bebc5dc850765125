// A process's membership in a bus, seen from CAF: once started, actors of
// this actor_system reach actors of every other process of the bus with
// send, request, monitor and link, as if they lived in one system.
//
//   shmbus::bus::config cfg;                  // --shmbus.bus=demo ...
//   cfg.parse(argc, argv);
//   caf::actor_system sys{cfg};
//   auto bus = shmbus::bus::node::start(sys); // server or client, per config
//   (*bus)->publish(my_actor, "wallet");
//   auto other = (*bus)->lookup("ledger", std::chrono::seconds{5});
//
// Destroy the node (or call stop()) before the actor_system: it kills the
// proxies of remote actors and releases the references CAF keeps to local
// actors that were sent to other processes, so the system's destructor does
// not wait for them forever.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/node_id.hpp>
#include <caf/timespan.hpp>

#include "shmbus/bus/bus_settings.hpp"
#include "shmbus/bus/errc.hpp"
#include "shmbus/transport/node_slot.hpp"

namespace shmbus::transport {
class node;
struct peer_loss;
} // namespace shmbus::transport

namespace shmbus::bus {

class bus_core;

/// Why await_stop_request() returned.
enum class stop_cause {
  timeout,     ///< nothing happened before the deadline
  requested,   ///< another process asked this one to stop (node::request_stop)
  server_lost, ///< the server is gone (with on-server-lost=continue)
  stopped,     ///< this node was stopped
};

struct stop_reason {
  stop_cause cause = stop_cause::timeout;
  std::string text; ///< e.g. "stop requested by node 'node'"

  explicit operator bool() const noexcept { return cause != stop_cause::timeout; }
};

/// How a process left the bus.
struct loss_report {
  transport::loss_cause cause = transport::loss_cause::none;
  int detail = 0;   ///< exit code, signal number or silent ms, by cause
  std::string text; ///< e.g. "node 'storage' (slot 2, pid 42) was killed by signal 9"
};

/// The process id in a CAF node id of this machine (0 if it has none).
int process_id_of(const caf::node_id& node);

/// A process on the bus, as another process sees it.
struct peer_view {
  std::string name;
  int pid = 0;
  caf::node_id node;
  bool server = false;
};

class node {
public:
  /// Starts (server) or joins (client) the bus configured in `sys.config()`.
  static caf::expected<std::unique_ptr<node>> start(caf::actor_system& sys);

  /// Same, with explicit settings.
  static caf::expected<std::unique_ptr<node>> start(caf::actor_system& sys,
                                                    bus_settings settings);

  node(const node&) = delete;
  node& operator=(const node&) = delete;
  ~node();

  /// Leaves the bus: peers see this node's actors go down with
  /// remote_link_unreachable, local monitors of remote actors get the same,
  /// pending requests fail. Idempotent; also done by the destructor.
  void stop();

  // -- names ----------------------------------------------------------------

  /// Makes `x` reachable as `name` from every process of the bus until it
  /// terminates, unpublish(), or this node stops.
  caf::error publish(const caf::actor& x, const std::string& name);

  /// Typed form: lookups check the interface.
  template <class... Sigs>
  caf::error publish(const caf::typed_actor<Sigs...>& x, const std::string& name) {
    return publish_impl(caf::actor_cast<caf::strong_actor_ptr>(x), name,
                        interface_of(x->message_types()));
  }

  caf::error unpublish(const std::string& name);

  /// The actor published as `name`; errc::name_not_found if none.
  caf::expected<caf::actor> lookup(const std::string& name);

  /// Waits up to `timeout` for `name` to be published.
  caf::expected<caf::actor> lookup(const std::string& name, caf::timespan timeout);

  /// Typed form: errc::interface_mismatch unless the published actor has
  /// exactly `Handle`'s interface.
  template <class Handle>
  caf::expected<Handle> lookup(const std::string& name,
                               caf::timespan timeout = caf::timespan{0}) {
    auto x = lookup_impl(name, timeout,
                         interface_of(system().message_types<Handle>()));
    if (!x)
      return std::move(x.error());
    return caf::actor_cast<Handle>(std::move(*x));
  }

  // -- stop requests (module processes) -------------------------------------

  /// Asks the process `pid` of this bus to stop (its await_stop_request()
  /// returns). errc::name_not_found if no such process is on the bus.
  caf::error request_stop(int pid);

  /// Blocks until another process asked this one to stop, this node lost
  /// its server (with on-server-lost=continue; with "exit" the process
  /// ends instead), this node stopped, or `timeout` passes.
  stop_reason await_stop_request(caf::timespan timeout);

  // -- introspection ----------------------------------------------------------

  const bus_settings& settings() const noexcept;
  caf::actor_system& system() noexcept;
  bool is_server() const noexcept;
  std::vector<peer_view> peers() const;

  /// How the process `pid` left the bus, if it did while this node ran.
  std::optional<loss_report> loss_of(int pid) const;

  /// Messages that could not be delivered (unregistered type, too large,
  /// receiver gone, inbox full): requests got the error as their answer,
  /// plain sends were logged (once per kind and receiver).
  uint64_t undelivered() const noexcept;

  /// The transport underneath (counters, shmbusctl-style inspection).
  transport::node& transport_node() noexcept;

private:
  explicit node(std::shared_ptr<bus_core> core);

  static uint64_t interface_of(const std::set<std::string>& signatures);
  caf::error publish_impl(caf::strong_actor_ptr x, const std::string& name,
                          uint64_t interface);
  caf::expected<caf::actor> lookup_impl(const std::string& name,
                                        caf::timespan timeout, uint64_t interface);

  std::shared_ptr<bus_core> core_;
};

} // namespace shmbus::bus
