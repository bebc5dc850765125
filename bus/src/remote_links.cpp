#include "remote_links.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_proxy.hpp>
#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/make_message.hpp>
#include <caf/proxy_registry.hpp>

#include "shm_actor_proxy.hpp"

namespace shmbus::bus {

remote_links::remote_links(caf::actor_system& sys, caf::proxy_registry& proxies,
                           io_execution_unit& eu, peer_table& peers, record_codec& codec,
                           outbox& out, registry_entries& entries)
  : sys_(sys),
    proxies_(proxies),
    eu_(eu),
    peers_(peers),
    codec_(codec),
    out_(out),
    entries_(entries) {
  // nop
}

caf::strong_actor_ptr remote_links::find_local(caf::actor_id aid) {
  if (auto x = sys_.registry().get(aid))
    return x;
  std::lock_guard<std::mutex> guard(mtx_);
  auto i = exports_.find(aid);
  return i != exports_.end() ? i->second : nullptr;
}

// -- proxy side -----------------------------------------------------------------

void remote_links::send_link(shm_actor_proxy& proxy, caf::abstract_actor* linker, bool link) {
  peer_ref to{proxy.slot(), proxy.incarnation()};
  if (!peers_.alive(to))
    return;
  if (link) {
    // The other side will ask about `linker` (WATCH) even if it was never
    // serialized: keep it findable.
    std::lock_guard<std::mutex> guard(mtx_);
    exports_.emplace(linker->id(), caf::strong_actor_ptr{linker->ctrl()});
  }
  std::vector<char> buf;
  record_codec::control_record(buf, link ? wire::kind::link : wire::kind::unlink, proxy.id(),
                               linker->id());
  out_.send_control(to, buf);
}

void remote_links::forward_exit(shm_actor_proxy& proxy, const caf::mailbox_element& what) {
  auto& em = what.content().get_as<caf::exit_msg>(0);
  auto& sender = what.sender;
  if (sender && sender->id() == em.source.id() && sender->node() == em.source.node()
      && sender->get()->getf(caf::abstract_actor::is_terminated_flag)) {
    // A dying local actor's link: the other side learns the real reason
    // when its proxy of that actor dies (our DOWN), so forwarding this
    // would deliver two exit_msgs. (A live sender that is its own source
    // is send_exit through a handle, which CAF sends with a sender.)
    proxy.drop_link(em.source);
    return;
  }
  if (!sender) {
    auto source = caf::actor_cast<caf::strong_actor_ptr>(em.source);
    if (!source
        || (source->node() == sys_.node()
            && source->get()->getf(caf::abstract_actor::is_terminated_flag)))
      return; // "you linked to a dead actor", sent under both actors' locks
  }
  // An explicit send_exit to the remote actor.
  std::vector<char> buf;
  codec_.exit_record(buf, proxy.id(), em);
  out_.send({proxy.slot(), proxy.incarnation()}, buf);
}

// -- records --------------------------------------------------------------------

void remote_links::on_watch(peer_ref from, caf::actor_id aid) {
  auto actor = find_local(aid);
  if (!actor) {
    // Gone before anyone asked: its real reason is lost (as in CAF's BASP).
    send_reason(from, aid, caf::exit_reason::unknown);
    return;
  }
  // A peer holds a proxy, so someone serialized the actor: its registry
  // entry (if any) is the bus's to release.
  entries_.adopt(aid);
  {
    std::lock_guard<std::mutex> guard(mtx_);
    auto i = watchers_.find(aid);
    if (i != watchers_.end()) {
      // Attached already. One entry per slot: a restarted process replaces
      // its predecessor, so the list stays within the node table's size.
      for (auto& w : i->second) {
        if (w.slot == from.slot) {
          w.incarnation = from.incarnation;
          return;
        }
      }
      i->second.push_back(from);
      return;
    }
    watchers_.emplace(aid, std::vector<peer_ref>{from});
  }
  // Runs in the actor's cleanup, after its mailbox was bounced and after
  // every message it sent: the DOWN comes after them in every inbox.
  actor->get()->attach_functor([weak = self_, aid](const caf::error& reason) {
    if (auto self = weak.lock())
      self->local_actor_down(aid, reason);
  });
}

void remote_links::on_down(peer_ref from, const record_codec::reason_fields& x) {
  codec_.forget_sender(from.slot, x.aid);
  // Calls the proxy's kill_proxy(nullptr, reason) outside the registry's lock.
  proxies_.erase(peers_.node_of(from), x.aid, x.reason);
}

void remote_links::on_link(peer_ref from, caf::actor_id dst_id, caf::actor_id linker,
                           bool link) {
  auto dst = find_local(dst_id);
  if (!dst)
    return; // the linker's proxy of dst gets DOWN(unknown) from its WATCH
  auto nid = peers_.node_of(from);
  if (link) {
    if (auto proxy = proxies_.get_or_put(nid, linker))
      static_cast<caf::actor_proxy*>(proxy->get())->add_link(dst->get());
  } else if (auto proxy = proxies_.get(nid, linker)) {
    static_cast<caf::actor_proxy*>(proxy->get())->remove_link(dst->get());
  }
}

void remote_links::on_exit(const record_codec::exit_fields& x) {
  auto dest = find_local(x.receiver);
  if (!dest)
    return;
  auto source = codec_.resolve(x.source_node, x.source);
  auto addr = source ? source->address() : caf::actor_addr{};
  dest->enqueue(nullptr, caf::make_message_id(),
                caf::make_message(caf::exit_msg{addr, x.reason}), &eu_);
}

void remote_links::clear() {
  std::unordered_map<caf::actor_id, caf::strong_actor_ptr> exports;
  std::unordered_map<caf::actor_id, std::vector<peer_ref>> watchers;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    exports.swap(exports_);
    watchers.swap(watchers_);
  }
  // Released outside the lock: a last reference runs the actor's cleanup,
  // which may call local_actor_down().
}

// -- helpers --------------------------------------------------------------------

void remote_links::local_actor_down(caf::actor_id aid, const caf::error& reason) {
  std::vector<peer_ref> watchers;
  caf::strong_actor_ptr released; // outside the lock: may run a destructor
  {
    std::lock_guard<std::mutex> guard(mtx_);
    auto i = watchers_.find(aid);
    if (i != watchers_.end()) {
      watchers.swap(i->second);
      watchers_.erase(i);
    }
    auto j = exports_.find(aid);
    if (j != exports_.end()) {
      released.swap(j->second);
      exports_.erase(j);
    }
  }
  for (auto& w : watchers)
    if (peers_.alive(w))
      send_reason(w, aid, reason);
}

void remote_links::send_reason(peer_ref to, caf::actor_id aid, const caf::error& reason) {
  std::vector<char> buf;
  codec_.reason_record(buf, wire::kind::down, aid, reason);
  out_.send(to, buf);
}

} // namespace shmbus::bus
