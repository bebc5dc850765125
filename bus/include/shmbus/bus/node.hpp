// A process's membership in a bus, seen from CAF: once started, actors of
// this actor_system reach actors of every other process of the bus with
// send, request, monitor and link, as if they lived in one system.
//
//   shmbus::bus::config cfg;                  // --shmbus.bus=demo ...
//   cfg.parse(argc, argv);
//   caf::actor_system sys{cfg};
//   auto bus = shmbus::bus::node::start(sys); // server or client, per config
//   bus->publish(my_actor, "wallet");
//   auto other = bus->lookup("ledger", std::chrono::seconds{5});
//
// Lifetime, as with caf::io::middleman: the actor system owns the bus (see
// bus_module, which shmbus::bus::config loads). A node is a cheap handle,
// copied freely like caf::actor; the bus stays up until node::stop() or the
// actor system's shutdown, whichever comes first, and a handle used after
// that gets errc::not_attached. Nothing needs to be destroyed in order.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_clock.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/node_id.hpp>
#include <caf/replies_to.hpp>
#include <caf/sec.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>

#include "shmbus/bus/bus_settings.hpp"
#include "shmbus/bus/group_view.hpp"
#include "shmbus/bus/errc.hpp"
#include "shmbus/bus/shared_buffer.hpp"
#include "shmbus/transport/node_slot.hpp"

namespace shmbus::transport {
class node;
} // namespace shmbus::transport

namespace shmbus::bus {

class bus_core;
class bus_module;
class remote_spawner;

/// Why await_stop_request() returned.
enum class stop_cause {
  timeout,     ///< nothing happened before the deadline
  requested,   ///< another process asked this one to stop (node::request_stop)
  server_lost, ///< the server is gone (see bus_settings::on_server_lost)
  stopped,     ///< this node was stopped
  evicted,     ///< the peers declared this node lost and it left the bus
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

/// node::loss_of() remembers this many lost processes; older reports are
/// dropped first.
constexpr size_t max_loss_reports = 1024;

/// The process id in a CAF node id of this machine (0 if it has none).
int process_id_of(const caf::node_id& node);

/// A process on the bus, as another process sees it.
struct peer_view {
  std::string name;
  int pid = 0;
  caf::node_id node;
  bool server = false;
};

/// This process in the cluster of machines (shmbus.remote.*).
struct remote_view {
  /// This process's BASP port; 0 with remote off.
  uint16_t port = 0;
  /// Bus names of the other machines whose directories answered.
  std::vector<std::string> machines;
  /// Direct BASP connections to processes of other machines.
  size_t connections = 0;
  /// Why endpoints of other machines were refused (the latest
  /// remote_machines::max_refusals), e.g. a node id seen twice.
  std::vector<std::string> refused;
};

/// The message of the bus's name service.
using lookup_atom = caf::atom_constant<caf::atom("lookup")>;

/// The bus's name service: looks names up for actors without blocking any
/// thread. `(lookup_atom, name, timeout)` answers with the actor published
/// as `name` once it is there, or with errc::name_not_found after
/// `timeout`; the form with an interface id (node::interface_id) also
/// checks a typed actor's interface (errc::interface_mismatch).
using name_service_actor = caf::typed_actor<
  caf::replies_to<lookup_atom, std::string, caf::timespan>::with<caf::actor>,
  caf::replies_to<lookup_atom, std::string, caf::timespan, uint64_t>::with<caf::actor>>;

/// A handle to this process's membership in a bus.
///
/// Thread safety: every member function may be called from any thread, on
/// the same handle or on copies (a handle is a shared pointer to the bus).
/// Calls marked "Blocks the caller" must not run in an actor's handler:
/// with the default inline dispatch such an actor may run on the bus's own
/// I/O thread, which then stops delivering messages to this process.
///
/// Processes are named by pid: it is what a supervisor knows of the process
/// it spawned, what the process's CAF node id carries, and it is unique
/// among live processes. A restarted process has a new pid and its slot a
/// new incarnation, so nothing meant for the old one reaches it; should the
/// kernel reuse a pid later, loss_of() reports the latest process with it.
class node {
public:
  /// A handle to no bus: every call fails with errc::not_attached (or
  /// returns an empty result).
  node() noexcept = default;

  /// Starts (server) or joins (client) the bus configured in `sys.config()`.
  /// Needs the bus_module in the system (shmbus::bus::config loads it;
  /// another config: `cfg.load<shmbus::bus::bus_module>()`).
  /// @warning Blocks the caller while it joins: up to attach-timeout
  ///          (client) or wait-for-clients (server), usually microseconds.
  static caf::expected<node> start(caf::actor_system& sys);

  /// Same, with explicit settings.
  static caf::expected<node> start(caf::actor_system& sys, bus_settings settings);

  /// True if this handle came from start() and the bus has not stopped.
  bool attached() const noexcept;
  explicit operator bool() const noexcept { return attached(); }

  /// Leaves the bus early (the actor system's shutdown does it otherwise):
  /// peers see this node's actors go down with remote_link_unreachable,
  /// local monitors of remote actors get the same, pending requests fail.
  /// Every handle of this bus then gets errc::not_attached. Idempotent.
  /// Called from an actor that runs on the bus's I/O thread it returns at
  /// once and the bus stops right after.
  /// @warning Blocks the caller until the I/O thread ended (its current
  ///          round: microseconds, unless an actor it runs blocks).
  void stop() const;

  // -- names ----------------------------------------------------------------

  /// Makes `x` reachable as `name` from every process of the bus until it
  /// terminates, unpublish(), or this node stops. Never blocks.
  caf::error publish(const caf::actor& x, const std::string& name) const;

  /// Typed form: lookups check the interface.
  template <class... Sigs>
  caf::error publish(const caf::typed_actor<Sigs...>& x, const std::string& name) const {
    return publish_impl(caf::actor_cast<caf::strong_actor_ptr>(x), name,
                        interface_of(x->message_types()));
  }

  /// Never blocks.
  caf::error unpublish(const std::string& name) const;

  /// The actor published as `name`; errc::name_not_found if none. Never
  /// blocks, except with shmbus.remote on for a name this machine does not
  /// publish: the other machines are asked (up to remote.timeout each).
  caf::expected<caf::actor> lookup(const std::string& name) const;

  /// Waits up to `timeout` for `name` to be published. From an actor, use
  /// name_service() or lookup(self, ...) instead. With shmbus.remote on,
  /// a name this machine does not publish is looked for on the other
  /// machines (after the local ones, once), and "name@machine" (a bus name)
  /// asks that machine only.
  /// @warning Blocks the caller for up to `timeout`.
  caf::expected<caf::actor> lookup(const std::string& name, caf::timespan timeout) const;

  /// Typed form: errc::interface_mismatch unless the published actor has
  /// exactly `Handle`'s interface.
  /// @warning Blocks the caller for up to `timeout`.
  template <class Handle>
  caf::expected<Handle> lookup(const std::string& name,
                               caf::timespan timeout = caf::timespan{0}) const {
    if (!attached())
      return stopped_error();
    auto x = lookup_impl(name, timeout, interface_id<Handle>(system()));
    if (!x)
      return std::move(x.error());
    return caf::actor_cast<Handle>(std::move(*x));
  }

  /// The name service actor of this bus (invalid once the bus stopped).
  name_service_actor name_service() const;

  /// Looks `name` up from the event-based actor `self` (typed or not)
  /// without blocking it or any thread: `f(caf::expected<Handle>)` runs in
  /// `self` once the name resolves, after `timeout` (errc::name_not_found),
  /// or when the bus has stopped (errc::not_attached). Typed handles are
  /// checked as by the blocking typed lookup. With shmbus.remote on, names
  /// are looked for on the other machines as by the blocking lookup (a
  /// helper thread of the bus asks them). Call it from `self`'s own
  /// handlers (or its behavior's setup), as any request of `self`.
  template <class Handle = caf::actor, class Self, class F>
  void lookup(Self* self, const std::string& name, caf::timespan timeout, F f) const {
    auto ns = name_service();
    auto attached = static_cast<bool>(ns);
    auto not_attached = stopped_error();
    auto iface = interface_id<Handle>(self->system());
    // CAF 0.17 keeps `self` alive until a request's timeout fires, answered
    // or not; a long lookup would hold up the actor system's shutdown.
    auto answered = [self] {
      self->system().clock().cancel_request_timeout(self, self->current_message_id());
    };
    self->request(ns, timeout + lookup_reply_margin(), lookup_atom::value, name, timeout, iface)
      .then([f, answered](caf::actor& x) mutable {
              answered();
              f(caf::expected<Handle>{caf::actor_cast<Handle>(std::move(x))});
            },
            [f, answered, attached, not_attached](caf::error& err) mutable {
              answered();
              // A stopped bus: no name service, or one that quit.
              if (!attached || err == caf::sec::request_receiver_down)
                err = not_attached;
              f(caf::expected<Handle>{std::move(err)});
            });
  }

  /// The interface id that publish() records for `Handle` in `sys` (0 for
  /// caf::actor: no check).
  template <class Handle>
  static uint64_t interface_id(caf::actor_system& sys) {
    if constexpr (std::is_same<Handle, caf::actor>::value)
      return 0;
    else
      return interface_of(sys.message_types<Handle>());
  }

  // -- stop requests (module processes) -------------------------------------

  /// Asks the process `pid` of this bus to stop (its await_stop_request()
  /// returns). errc::name_not_found if no such process is on the bus.
  /// @warning Blocks the caller for up to full-inbox-timeout while that
  ///          process's inbox is full.
  caf::error request_stop(int pid) const;

  /// A buffer of `size` bytes in the bus's pool, to fill and freeze()
  /// (shared_buffer.hpp). Fails with errc::pool_exhausted when no block that
  /// large is free or this process holds pool-holder-entries references
  /// already, unless `fallback` asks for a heap buffer then. Never blocks
  /// (a few atomic steps); any thread.
  caf::expected<buffer_writer> make_buffer(size_t size,
                                           buffer_fallback fallback = buffer_fallback::none) const;

  /// Returns once another process asked this one to stop, this node lost
  /// its server (after its actors' down messages were enqueued), the peers
  /// evicted it (on-evicted=leave), this node stopped, or `timeout` passed.
  /// The bus never ends the process itself: the caller decides (run_module
  /// returns server-lost-exit-code for a lost server).
  /// @warning Blocks the caller for up to `timeout`.
  stop_reason await_stop_request(caf::timespan timeout) const;

  // -- introspection ----------------------------------------------------------

  /// The settings the bus runs with (a client's sizes and timing are the
  /// server's). Empty settings for a handle from node().
  const bus_settings& settings() const noexcept;

  /// The actor system of the bus. Precondition: the handle came from
  /// start() and that system still exists.
  caf::actor_system& system() const noexcept;

  bool is_server() const noexcept;

  /// The live processes of the bus, this one excluded; empty once stopped.
  /// May be stale when it returns.
  std::vector<peer_view> peers() const;

  /// How the process `pid` left the bus, if it did while this node ran
  /// (the last max_loss_reports losses).
  std::optional<loss_report> loss_of(int pid) const;

  /// This process in the cluster of machines; empty with remote off or once
  /// stopped. May be stale when it returns.
  remote_view remote() const;

  /// Messages that could not be delivered (unregistered type, too large,
  /// receiver gone, inbox full): requests got the error as their answer,
  /// plain sends were logged (once per kind and receiver).
  uint64_t undelivered() const noexcept;

  /// Records from other processes that failed validation (malformed,
  /// forged, unreadable, failed the integrity check): each was counted,
  /// logged (the first per sender and kind) and skipped, and a request in
  /// one was answered with an error where its sender could be read.
  uint64_t rejected_records() const noexcept;

  /// Remote spawn requests from other processes that this node refused
  /// (a type name or interface out of bounds, a message that is not a
  /// spawn request; see remote_spawn.hpp): each was answered with an error,
  /// counted and logged (the first per sender). Thread-safe.
  uint64_t refused_spawn_requests() const noexcept;
  /// The `shmbus` groups this process knows (group_view.hpp): its
  /// subscribers, the other processes subscribed, records out and in, and
  /// what could not be delivered. Empty once stopped, and on a node that
  /// does not carry the system's groups (the system's first running node
  /// does). May be stale when it returns.
  std::vector<group_view> groups() const;

  /// The transport underneath (counters, shmbusctl-style inspection); it
  /// has left the bus once the node stopped. Precondition: the handle came
  /// from start().
  transport::node& transport_node() const noexcept;

  friend bool operator==(const node& x, const node& y) noexcept {
    return x.core_ == y.core_;
  }
  friend bool operator!=(const node& x, const node& y) noexcept { return !(x == y); }

private:
  friend class bus_module;
  friend class remote_spawner;

  /// How much longer a lookup's request may take than the lookup itself:
  /// the name service answers within its timeout plus one re-check, plus
  /// shmbus.remote.timeout with remote on (other machines are asked).
  caf::timespan lookup_reply_margin() const;

  explicit node(std::shared_ptr<bus_core> core) noexcept;

  static uint64_t interface_of(const std::set<std::string>& signatures);
  caf::error stopped_error() const;
  caf::error publish_impl(caf::strong_actor_ptr x, const std::string& name,
                          uint64_t interface) const;
  caf::expected<caf::actor> lookup_impl(const std::string& name,
                                        caf::timespan timeout, uint64_t interface) const;

  std::shared_ptr<bus_core> core_;
};

} // namespace shmbus::bus
