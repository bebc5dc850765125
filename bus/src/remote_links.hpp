// Monitors and links across processes. A process that holds a proxy of a
// remote actor WATCHes it; the owner attaches to the actor and sends DOWN
// with the real exit reason when it terminates, after every message it sent
// (the proxy then dies with that reason, firing local monitors and links).
// LINK/UNLINK mirror a local actor's link to a proxy on the owner's side;
// EXIT carries an explicit send_exit. Actors that were never serialized but
// are linked to remotely are kept findable here ("exports").
#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <caf/abstract_actor.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>

#include "io_execution_unit.hpp"
#include "outbox.hpp"
#include "peer_table.hpp"
#include "record_codec.hpp"
#include "registry_entries.hpp"

namespace shmbus::bus {

class shm_actor_proxy;

class remote_links {
public:
  remote_links(caf::actor_system& sys, caf::proxy_registry& proxies,
               io_execution_unit& eu, peer_table& peers, record_codec& codec,
               outbox& out, registry_entries& entries);

  /// The pointer that callbacks attached to local actors hold: they do
  /// nothing once it expired. Set once, before any record arrives.
  void bind(std::weak_ptr<remote_links> self) { self_ = std::move(self); }

  /// The local actor `aid`: from CAF's registry or the exports.
  /// Thread-safe.
  caf::strong_actor_ptr find_local(caf::actor_id aid);

  // -- proxy side (under CAF's actor locks: no registry call, no waiting) --

  /// `linker` linked to (`link`) or unlinked from the remote actor of `proxy`.
  void send_link(shm_actor_proxy& proxy, caf::abstract_actor* linker, bool link);

  /// An exit_msg enqueued into `proxy`: forwards an explicit send_exit,
  /// drops what CAF sends on its own for links (the other side learns
  /// those from DOWN). Any thread.
  /// @warning Blocks the caller for up to full-inbox-timeout while the
  ///          destination's inbox is full (see outbox::send).
  void forward_exit(shm_actor_proxy& proxy, const caf::mailbox_element& what);

  // -- records (I/O thread) ---------------------------------------------------

  void on_watch(peer_ref from, caf::actor_id aid);
  void on_down(peer_ref from, const record_codec::reason_fields& x);
  void on_link(peer_ref from, caf::actor_id dst, caf::actor_id linker, bool link);
  void on_exit(const record_codec::exit_fields& x);

  /// Forgets every export and watcher (the node stops). Thread-safe.
  void clear();

private:
  void local_actor_down(caf::actor_id aid, const caf::error& reason);
  void send_reason(peer_ref to, caf::actor_id aid, const caf::error& reason);

  caf::actor_system& sys_;
  caf::proxy_registry& proxies_;
  io_execution_unit& eu_;
  peer_table& peers_;
  record_codec& codec_;
  outbox& out_;
  registry_entries& entries_;
  std::weak_ptr<remote_links> self_;

  std::mutex mtx_;
  std::unordered_map<caf::actor_id, caf::strong_actor_ptr> exports_;
  /// Per local actor, the peer incarnations holding a proxy of it (at
  /// most one entry per slot: a new incarnation replaces the old one).
  std::unordered_map<caf::actor_id, std::vector<peer_ref>> watchers_;
};

} // namespace shmbus::bus
