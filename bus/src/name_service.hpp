// Published names: publish/unpublish in the transport's name table (names
// die with their actor), lookups that turn an entry into a local actor or a
// proxy, and the name service actor that lets actors wait for a name
// without blocking a thread.
//
// The name service actor parks waiting lookups (each with its deadline)
// and re-checks them when the segment's names epoch has changed, looking at
// it every recheck_interval while any wait, and at least once per heartbeat
// interval whatever the epoch says (a publisher killed between writing its
// entry and bumping the epoch). Its timer is CAF's clock: no thread waits.
//
// With shmbus.remote on, a lookup this machine cannot answer at once is
// handed to a helper thread (a hidden detached actor) that runs the
// blocking node::lookup: the other machines once, or "name@machine" on that
// machine until the deadline. A plain name that no machine has is parked
// here again until its deadline, so helpers last about one question per
// machine; at most max_remote_lookups run at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

#include <caf/actor.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include "shmbus/bus/bus_settings.hpp"
#include "shmbus/bus/node.hpp"
#include "shmbus/transport/node.hpp"

#include "peer_table.hpp"
#include "registry_entries.hpp"

namespace shmbus::bus {

class name_service {
public:
  /// Lookups the name service actor parks at most; more fail at once.
  static constexpr size_t max_waiting_lookups = 4096;

  /// How often the name service actor looks at the names epoch while
  /// lookups wait.
  static constexpr caf::timespan recheck_interval = std::chrono::milliseconds{10};

  /// Lookups on other machines the name service actor runs at a time;
  /// more fail at once.
  static constexpr size_t max_remote_lookups = 64;

  /// A blocking lookup on every machine (node::lookup with remote on).
  using remote_lookup =
    std::function<caf::expected<caf::actor>(const std::string&, caf::timespan, uint64_t)>;

  /// `stopping` turns true when the node stops; calls then fail.
  name_service(caf::actor_system& sys, transport::node& transport, peer_table& peers,
               caf::proxy_registry& proxies, registry_entries& entries,
               const bus_settings& settings, const std::atomic<bool>& stopping);

  /// The pointer that callbacks attached to actors and the name service
  /// actor hold. Set once, before start().
  void bind(std::weak_ptr<name_service> self) { self_ = std::move(self); }

  /// Spawns the name service actor; with `remote`, its lookups that this
  /// machine cannot answer at once are asked there too.
  void start(remote_lookup remote = {});

  /// Ends the name service actor (waiting lookups fail with not_attached)
  /// and forgets the published names. Thread-safe.
  void stop();

  /// See node::name_service(). Thread-safe.
  name_service_actor actor() const;

  /// See node::publish(). Thread-safe, never blocks.
  caf::error publish(caf::strong_actor_ptr x, const std::string& name, uint64_t interface);

  /// See node::unpublish(). Thread-safe, never blocks.
  caf::error unpublish(const std::string& name);

  /// Publishes every name again (the node rejoined as a new incarnation,
  /// whose name entries are new). Names that fail are logged to stderr.
  /// Thread-safe, never blocks.
  void republish();

  /// See node::lookup(). Thread-safe.
  /// @warning Blocks the caller for up to `timeout` (never for zero).
  caf::expected<caf::actor> lookup(const std::string& name, caf::timespan timeout,
                                   uint64_t interface);

  /// The names epoch of the segment: changes whenever a name comes or goes.
  uint32_t epoch() const noexcept;

  /// The error of a lookup that found nothing within `timeout`.
  caf::error not_found(const std::string& name, caf::timespan timeout) const;

  const bus_settings& settings() const noexcept { return settings_; }

private:
  /// Unpublishes the names of actor `aid` (it terminated).
  void actor_down(caf::actor_id aid);

  caf::actor_system& sys_;
  transport::node& transport_;
  peer_table& peers_;
  caf::proxy_registry& proxies_;
  registry_entries& entries_;
  const bus_settings& settings_;
  const std::atomic<bool>& stopping_;
  std::weak_ptr<name_service> self_;

  mutable std::mutex mtx_;
  struct published_actor {
    caf::actor_id aid;
    uint64_t interface;
  };
  std::unordered_map<std::string, published_actor> published_;
  /// Actors whose termination unpublishes their names.
  std::set<caf::actor_id> watched_;
  name_service_actor actor_;
};

} // namespace shmbus::bus
