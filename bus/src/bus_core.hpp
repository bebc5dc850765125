// The bus of one process: it joins the transport, wires the parts together
// and runs the I/O threads, which turn inbox records into mailbox elements
// and peer events into proxies killed and requests failed. With inline
// dispatch there are two: one consumes, the other takes over when the first
// is stuck in an actor's handler (consumer_token.hpp).
//
// The parts, each with its own state and lock:
//   peer_table        who is on the bus (by node id, by slot+incarnation)
//   pending_requests  requests waiting for a remote answer (bounded)
//   registry_entries  the entries of CAF's actor registry the bus made
//   stray_proxies     registry entries for actors of processes not on the bus
//   record_codec      CAF values <-> records (wire.hpp: the bytes)
//   inbound_records   records in: validated, decoded, delivered or refused
//   outbox            records out: straight in, or queued for a full inbox
//   forwarder         the proxies' send path (codec + outbox)
//   remote_links      WATCH/DOWN/LINK/UNLINK/EXIT and exported actors
//   name_service      publish/lookup and the name service actor
//   spawn_service     remote spawn's target side (remote_spawn.hpp)
//   group_router      the `shmbus` CAF groups between processes
//   stop_policy       why the process should stop (requests, lost server,
//                     eviction)
//   remote_machines   several machines: BASP port, directory, connections,
//                     relays to BASP's proxies, names of other machines
//
// Owned by bus_module (one per actor system and bus); node handles and
// proxies share or observe it. stop() leaves the bus; the object itself
// lives until the last handle is gone, so late calls find it, see that it
// stopped and fail with errc::not_attached.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/proxy_registry.hpp>

#include "shmbus/bus/bus_settings.hpp"
#include "shmbus/bus/node.hpp"
#include "shmbus/bus/shared_buffer.hpp"
#include "shmbus/transport/buffer_pool.hpp"
#include "shmbus/transport/node.hpp"

#include "consumer_token.hpp"
#include "forwarder.hpp"
#include "group_router.hpp"
#include "inbound_records.hpp"
#include "io_execution_unit.hpp"
#include "name_service.hpp"
#include "once_log.hpp"
#include "outbox.hpp"
#include "peer_table.hpp"
#include "pending_requests.hpp"
#include "record_codec.hpp"
#include "registry_entries.hpp"
#include "remote_links.hpp"
#include "remote_machines.hpp"
#include "spawn_service.hpp"
#include "stop_policy.hpp"
#include "stray_proxies.hpp"

namespace shmbus::bus {

class shm_actor_proxy;

class bus_core final : public caf::proxy_registry::backend,
                       public transport::inbox_handler,
                       public std::enable_shared_from_this<bus_core> {
public:
  /// Joins or creates the bus of `settings` and starts the I/O thread.
  /// @warning Blocks the caller while the transport joins (see node::start).
  static caf::expected<std::shared_ptr<bus_core>> start(caf::actor_system& sys,
                                                        bus_settings settings);

  ~bus_core() override;

  /// See node::stop(). Thread-safe, idempotent. With shmbus.remote on the
  /// entries of CAF's actor registry stay (other machines may still hold
  /// handles of these actors over BASP) until release_registry().
  /// @warning With remote on, blocks up to shmbus.remote.timeout while the
  ///          connection thread finishes a connection attempt.
  void stop();

  /// Erases the entries of CAF's actor registry the bus made (the actor
  /// system shuts down). Thread-safe, idempotent.
  void release_registry();

  /// False once stop() began. Thread-safe.
  bool running() const noexcept { return !stopping_.load(std::memory_order_acquire); }

  // -- proxy_registry::backend (runs under the registry's lock) -------------

  caf::strong_actor_ptr make_proxy(caf::node_id nid, caf::actor_id aid) override;
  void set_last_hop(caf::node_id*) override {
    // nop: every node of a bus reaches every other directly
  }

  // -- used by proxies (any thread) -------------------------------------------

  void forward(shm_actor_proxy& proxy, caf::mailbox_element_ptr what) {
    forwarder_.forward(proxy, std::move(what));
  }

  void send_link(shm_actor_proxy& proxy, caf::abstract_actor* linker, bool link) {
    links_.send_link(proxy, linker, link);
  }

  void fail_pending(const caf::node_id& nid, caf::actor_id aid) { pending_.fail(nid, aid); }

  // -- transport::inbox_handler (I/O thread) ------------------------------------

  void on_message(const transport::message_view& msg) override;
  void on_peer_joined(const transport::peer_info& peer) override;
  void on_peer_lost(const transport::peer_loss& loss) override;
  void on_error(const transport::error& err) override;

  // -- node's API (any thread; see node.hpp) ----------------------------------

  caf::error publish(caf::strong_actor_ptr x, const std::string& name, uint64_t interface);
  caf::error unpublish(const std::string& name);
  caf::expected<caf::actor> lookup(const std::string& name, caf::timespan timeout,
                                   uint64_t interface);
  name_service_actor name_service_handle() const { return names_.actor(); }
  caf::expected<buffer_writer> make_buffer(size_t size, buffer_fallback fallback);
  /// Pool use now; empty without a pool.
  transport::pool_usage pool_usage() const;
  caf::error request_stop(int pid);
  /// A proxy of the spawn service of process `pid` (see remote_spawn.hpp),
  /// or errc::peer_lost naming why that process is not on the bus.
  caf::expected<caf::actor> spawn_service_of(int pid);
  uint64_t refused_spawns() const noexcept { return spawn_.refused(); }
  stop_reason await_stop_request(caf::timespan timeout) { return stop_.await(timeout); }
  std::vector<peer_view> peers() const;
  std::optional<loss_report> loss_of(int pid) const { return peers_.loss_of(pid); }
  remote_view remote() const { return remote_.view(); }
  uint64_t undelivered() const noexcept { return forwarder_.undelivered(); }
  uint64_t rejected_records() const noexcept { return inbound_.rejected(); }
  std::vector<group_view> groups() const;

  caf::actor_system& system() noexcept { return sys_; }
  const bus_settings& settings() const noexcept { return settings_; }
  transport::node& transport_node() noexcept { return *transport_; }

  /// The error of every call after stop().
  caf::error stopped_error() const;

private:
  bus_core(caf::actor_system& sys, bus_settings settings,
           std::unique_ptr<transport::node> transport);

  /// An actor of another machine found by name, as the bus's relay.
  caf::expected<caf::actor> as_relay(caf::expected<caf::actor> x);

  /// The loop of I/O thread `me` (see consumer_token.hpp).
  void io_loop(int me);
  /// Pins the calling thread (the I/O thread) to shmbus.io-cpu, if set.
  void pin_io_thread();
  /// stop(), also from the I/O thread; `evicted` (if not empty) is
  /// reported as stop_cause::evicted once everything is torn down,
  /// otherwise stop_cause::stopped.
  void leave(const std::string& evicted);
  void stop_now(const std::string& evicted);
  /// Tells the transport that its consumer stops on purpose, wakes the I/O
  /// threads (stopping_ is set) and joins them.
  void join_io_threads();
  /// The peers declared this node lost, or it declared itself stalled:
  /// leave or rejoin (on-evicted). I/O thread.
  void evicted(const transport::peer_loss& loss);
  /// Comes back as a new incarnation in the same slot, after the down
  /// messages of every remote actor this node knew. I/O thread.
  caf::error rejoin();

  caf::actor_system& sys_;
  bus_settings settings_;
  std::atomic<bool> stopping_{false};
  std::unique_ptr<transport::node> transport_;
  /// The bus's buffer pool as this process maps it; null without one.
  std::shared_ptr<transport::buffer_pool> pool_;
  caf::proxy_registry proxies_;
  consumer_token token_;
  io_execution_unit eu_;
  once_log log_;
  peer_table peers_;
  pending_requests pending_;
  registry_entries entries_;
  stray_proxies strays_;
  record_codec codec_;
  outbox outbox_;
  remote_links links_;
  name_service names_;
  spawn_service spawn_;
  stop_policy stop_;
  group_router groups_;
  inbound_records inbound_;
  forwarder forwarder_;
  remote_machines remote_;

  /// I/O thread 0, and with inline dispatch thread 1, its standby.
  std::thread io_thread_;
  std::thread standby_thread_;
  /// Serializes stop(): the user's and the actor system's may overlap.
  std::mutex lifecycle_mtx_;
  bool stopped_ = false;
};

} // namespace shmbus::bus
