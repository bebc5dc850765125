// The bus's side of several machines (README, "Several machines"): shmbus
// inside a machine, CAF's BASP between machines, in one actor system.
//
// Every process with shmbus.remote.enabled opens a BASP port. The server
// of each machine runs the machine's directory, published on the bus (for
// its own processes, which register their BASP endpoints) and at its BASP
// port (for other machines, which ask it for those endpoints and for
// published names). Each process keeps a direct BASP connection to every
// process of the other machines whose directories it was seeded with
// (eager: opened at start and on every refresh), because BASP's monitors,
// loss purging and heartbeats work only over direct routes (DESIGN.md,
// "shmbus and BASP"). After a connection comes up, the process asks BASP to
// monitor again every proxy it made of that node before: a handle that
// arrived before its route existed gets its monitors then.
//
// Handles of other machines' actors that arrive over the bus become relays
// (basp_relay_proxy) to BASP's own proxy. A handle of a node this process
// has no direct route to yet makes a relay that waits: the thread connects
// at once (a round of the directories, again every 100 ms while relays
// wait) and gives the relay BASP's proxy when the route is up, or after
// twice remote.timeout whatever route BASP has (none: the relay dies with
// remote_link_unreachable); the bus kills its relays, never
// BASP's proxies, except those BASP made of the bus's own processes (a
// handle of a neighbour that came back over BASP): BASP reaches those only
// through another machine and would never learn of their loss, so the bus
// kills them when the neighbour is lost.
//
// Thread safety: every public member may be called from any thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/node_id.hpp>
#include <caf/scoped_actor.hpp>

#include "shmbus/bus/bus_settings.hpp"
#include "shmbus/bus/node.hpp"

#include "peer_table.hpp"

namespace shmbus::bus {

class remote_machines {
public:
  /// The bus name the directory is published under on each bus.
  static constexpr const char* directory_name = "shmbus.directory";

  /// Reasons for refused endpoints kept for remote_view::refused.
  static constexpr size_t max_refusals = 16;

  /// Machines this process knows at most (seeds and those the seeds'
  /// directories name).
  static constexpr size_t max_machines = 64;

  /// Names published on this machine: (name, timeout, interface).
  using local_lookup = std::function<caf::expected<caf::actor>(const std::string&, caf::timespan,
                                                               uint64_t)>;
  using local_publish = std::function<caf::error(caf::strong_actor_ptr, const std::string&)>;

  remote_machines(caf::actor_system& sys, const bus_settings& settings, peer_table& peers);
  ~remote_machines();

  bool enabled() const noexcept { return settings_.remote; }

  /// Opens this process's BASP port and, on the server, starts the
  /// directory; starts the thread that registers this process and keeps
  /// the connections. Fails when the port cannot be opened.
  caf::error start(local_lookup lookup, local_publish publish,
                   std::function<bool(const caf::node_id&)> is_peer);

  /// Ends the thread and the directory; relays made before stay with their
  /// holders until the bus kills them. Idempotent.
  void stop();

  /// The bus's proxy of actor `aid` of `nid`, a node of no process of this
  /// bus: a relay to BASP's proxy, or one that waits for a direct route to
  /// `nid`. `on_death` runs once the relay died. Runs under the bus's proxy
  /// registry lock: takes BASP's registry lock only, never blocks. Null once
  /// stopped.
  caf::strong_actor_ptr relay(const caf::node_id& nid, caf::actor_id aid,
                              std::function<void()> on_death);

  /// The bus's process `nid` is lost: BASP's proxies of its actors die.
  void peer_lost(const caf::node_id& nid);

  /// `name` as published on machine `machine` (a bus name), asked again
  /// every refresh interval until `timeout`; or, when `machine` is empty,
  /// on the first other machine that has it now.
  /// @warning Blocks the caller up to `timeout` plus remote-timeout per
  ///          machine asked.
  caf::expected<caf::actor> lookup(const std::string& name, const std::string& machine,
                                   uint64_t interface, caf::timespan timeout);

  /// See node::remote().
  remote_view view() const;

private:
  struct machine {
    std::string seed;
    /// Learned from another machine's directory, not configured: a learned
    /// seed that leads to this machine or to a machine known already is
    /// dropped without a refusal.
    bool learned = false;
    bool dropped = false;
    std::string bus; // empty until its directory answered
    caf::actor directory;
    std::map<std::string, caf::node_id> connected; // endpoint -> node
  };

  /// A relay that waits for a direct route to its node.
  struct waiting_relay {
    caf::weak_actor_ptr relay;
    caf::node_id nid;
    caf::actor_id aid;
    std::chrono::steady_clock::time_point deadline;
    std::function<void()> on_death;
  };

  /// How often the thread looks again while relays wait.
  static constexpr std::chrono::milliseconds waiting_round{100};

  void run();
  /// Gives each waiting relay BASP's proxy once BASP has a direct route to
  /// its node, or at its deadline.
  void bind_waiting();
  /// Whether BASP has a direct connection to `nid` (asks the broker).
  bool direct_route(caf::scoped_actor& self, const caf::node_id& nid);
  /// `relay` dies with BASP's proxy `target` (at once if that is dead).
  static void follow(const caf::strong_actor_ptr& relay, const caf::strong_actor_ptr& target,
                     std::function<void()> on_death);
  caf::expected<caf::actor> lookup_once(const std::string& name, const std::string& machine,
                                        uint64_t interface);
  /// One round: register, ask every machine, connect to what is new.
  void refresh();
  /// Connects to every endpoint of `m`'s directory not connected yet.
  void connect_machine(machine& m);
  /// Opens (or finds) the direct connection to `endpoint` of `m`.
  void connect_endpoint(machine& m, const std::string& endpoint);
  /// BASP monitors every proxy of `nid` again (the route is direct now).
  void monitor_again(const caf::node_id& nid);
  void refuse(const std::string& text);

  caf::actor_system& sys_;
  const bus_settings& settings_;
  peer_table& peers_;
  local_lookup lookup_;
  std::function<bool(const caf::node_id&)> is_peer_;
  caf::actor basp_;
  caf::proxy_registry* basp_proxies_ = nullptr;
  caf::actor directory_;
  uint16_t port_ = 0;
  std::string endpoint_;

  /// Serializes connection work (the thread and lookups); guards
  /// machines_ and registered_.
  std::mutex conn_mtx_;
  std::vector<machine> machines_;
  /// Seeds named by other machines' directories, added after a round.
  std::vector<std::string> pending_seeds_;
  bool registered_ = false;

  mutable std::mutex mtx_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool wake_ = false; // a relay waits: run a round now
  std::vector<waiting_relay> waiting_;
  /// Nodes connected by the last round: their relays need not wait.
  std::set<caf::node_id> connected_nodes_;
  std::vector<std::string> refused_;
  std::vector<std::string> machine_names_;
  size_t connections_ = 0;
  std::thread thread_;
};

} // namespace shmbus::bus
