#include "name_service.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/proxy_registry.hpp>
#include <caf/send.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "error_mapping.hpp"

namespace shmbus::bus {

namespace {

using clock = std::chrono::steady_clock;

/// The name service actor's own timer message.
using recheck_atom = caf::atom_constant<caf::atom("recheck")>;
/// A helper's answer to a lookup on other machines: (id, actor or error).
using remote_done_atom = caf::atom_constant<caf::atom("remotedone")>;
/// The deadline of a lookup a helper still works on: (id).
using remote_late_atom = caf::atom_constant<caf::atom("remotelate")>;

struct waiting_lookup {
  caf::response_promise promise;
  std::string name;
  caf::timespan timeout;
  uint64_t interface;
  clock::time_point deadline;
};

struct lookup_state {
  std::weak_ptr<name_service> names;
  name_service::remote_lookup remote; // empty with shmbus.remote off
  std::vector<waiting_lookup> waiting;
  /// Lookups a helper asks other machines for, by id.
  std::unordered_map<uint64_t, waiting_lookup> asking;
  uint64_t next_id = 0;
  /// The names epoch when the waiting lookups were last checked.
  uint32_t seen_epoch = 0;
  clock::time_point last_check;
  bool recheck_scheduled = false;
  static inline const char* name = "shmbus.name_service";
};

using lookup_actor = caf::stateful_actor<lookup_state>*;

/// A lookup that ended: found, failed for good, or still not there.
bool finished(const caf::expected<caf::actor>& x) {
  return x || x.error() != errc::name_not_found;
}

void deliver(caf::response_promise& promise, caf::expected<caf::actor> x) {
  if (x)
    promise.deliver(std::move(*x));
  else
    promise.deliver(std::move(x.error()));
}

/// Next look at the waiting lookups: after recheck_interval, or at the
/// earliest deadline if that comes first.
void schedule_recheck(lookup_actor self) {
  auto& st = self->state;
  if (st.recheck_scheduled || st.waiting.empty())
    return;
  auto now = clock::now();
  auto earliest = std::min_element(st.waiting.begin(), st.waiting.end(),
                                   [](auto& x, auto& y) { return x.deadline < y.deadline; })
                    ->deadline;
  auto delay = std::clamp<caf::timespan>(earliest - now, caf::timespan{0},
                                         name_service::recheck_interval);
  self->delayed_send(self, delay, recheck_atom::value);
  st.recheck_scheduled = true;
}

/// The error of a lookup that finds max_waiting_lookups parked already, or
/// nothing if it may be parked.
caf::error no_room_to_park(lookup_actor self, const std::string& name) {
  auto waiting = self->state.waiting.size();
  if (waiting < name_service::max_waiting_lookups)
    return {};
  return caf::make_error(caf::sec::runtime_error,
                         std::to_string(waiting) + " lookups wait for names already; a lookup of '"
                           + name + "' must wait until some of them end");
}

/// Parks `w` until its name is published here or its deadline (after
/// no_room_to_park said there is room).
void park(lookup_actor self, waiting_lookup w, uint32_t epoch) {
  auto& st = self->state;
  if (st.waiting.empty()) {
    st.seen_epoch = epoch;
    st.last_check = clock::now();
  }
  st.waiting.push_back(std::move(w));
  schedule_recheck(self);
}

/// Hands the lookup to a helper thread that asks the other machines (see
/// the header): "name@machine" until the deadline, a plain name once.
caf::result<caf::actor> ask_elsewhere(lookup_actor self, std::string& name,
                                      caf::timespan timeout, uint64_t interface) {
  auto& st = self->state;
  if (st.asking.size() >= name_service::max_remote_lookups)
    return caf::make_error(caf::sec::runtime_error,
                           std::to_string(st.asking.size())
                             + " lookups on other machines run already; a lookup of '" + name
                             + "' must wait until some of them end");
  auto id = ++st.next_id;
  auto promise = self->make_response_promise();
  auto at = name.rfind('@');
  auto wait = at != std::string::npos && at > 0 ? timeout : caf::timespan{0};
  st.asking.emplace(id, waiting_lookup{promise, name, timeout, interface,
                                       clock::now() + timeout});
  // The helper may take remote.timeout per machine it asks: the answer
  // comes by this deadline (node::lookup_reply_margin counts it).
  if (auto names = st.names.lock())
    self->delayed_send(self, timeout + names->settings().remote_timeout,
                       remote_late_atom::value, id);
  auto parent = caf::actor_cast<caf::actor>(self);
  self->system().spawn<caf::detached + caf::hidden>(
    [remote = st.remote, parent, id, name, wait, interface](caf::blocking_actor*) {
      auto found = remote(name, wait, interface);
      if (found)
        caf::anon_send(parent, remote_done_atom::value, id, std::move(*found));
      else
        caf::anon_send(parent, remote_done_atom::value, id, std::move(found.error()));
    });
  return promise;
}

/// A helper answered: deliver, or park a plain name here until its
/// deadline.
void remote_done(lookup_actor self, uint64_t id, caf::expected<caf::actor> found) {
  auto& st = self->state;
  auto i = st.asking.find(id);
  if (i == st.asking.end())
    return; // the node stopped meanwhile: answered already
  auto w = std::move(i->second);
  st.asking.erase(i);
  auto names = st.names.lock();
  if (finished(found) || !names || clock::now() >= w.deadline
      || w.name.find('@') != std::string::npos) {
    deliver(w.promise, std::move(found));
    return;
  }
  if (auto err = no_room_to_park(self, w.name)) {
    w.promise.deliver(std::move(err));
    return;
  }
  park(self, std::move(w), names->epoch());
}

/// A helper has not answered by the lookup's deadline plus remote.timeout:
/// the lookup fails now (the helper's answer is dropped when it comes).
void remote_late(lookup_actor self, uint64_t id) {
  auto& st = self->state;
  auto i = st.asking.find(id);
  if (i == st.asking.end())
    return; // answered
  auto w = std::move(i->second);
  st.asking.erase(i);
  auto names = st.names.lock();
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
    w.timeout + (names ? names->settings().remote_timeout : caf::timespan{0}));
  w.promise.deliver(make_error(errc::name_not_found,
                               "no machine answered for '" + w.name + "' within "
                                 + std::to_string(waited.count())
                                 + " ms (the lookup's timeout plus shmbus.remote.timeout)"));
}

caf::result<caf::actor> start_lookup(lookup_actor self, std::string& name,
                                     caf::timespan timeout, uint64_t interface) {
  auto& st = self->state;
  auto names = st.names.lock();
  if (!names)
    return make_error(errc::not_attached, "the bus node has stopped");
  // Read before looking: a name published in between bumps it again.
  auto epoch = names->epoch();
  auto found = names->lookup(name, caf::timespan{0}, interface);
  if (finished(found))
    return found;
  if (st.remote)
    return ask_elsewhere(self, name, timeout, interface);
  if (timeout <= caf::timespan{0})
    return found;
  if (auto err = no_room_to_park(self, name))
    return err;
  auto promise = self->make_response_promise();
  park(self, {promise, std::move(name), timeout, interface, clock::now() + timeout}, epoch);
  return promise;
}

void recheck(lookup_actor self) {
  auto& st = self->state;
  st.recheck_scheduled = false;
  auto names = st.names.lock();
  if (!names)
    return; // the exit handler answers them
  auto now = clock::now();
  auto epoch = names->epoch();
  auto look = epoch != st.seen_epoch
              || now - st.last_check >= names->settings().heartbeat_interval;
  if (look) {
    st.seen_epoch = epoch;
    st.last_check = now;
  }
  auto ended = [&](waiting_lookup& w) {
    if (look) {
      auto found = names->lookup(w.name, caf::timespan{0}, w.interface);
      if (finished(found)) {
        deliver(w.promise, std::move(found));
        return true;
      }
    }
    if (now < w.deadline)
      return false;
    w.promise.deliver(names->not_found(w.name, w.timeout));
    return true;
  };
  st.waiting.erase(std::remove_if(st.waiting.begin(), st.waiting.end(), ended),
                   st.waiting.end());
  schedule_recheck(self);
}

caf::behavior lookup_actor_impl(lookup_actor self, std::weak_ptr<name_service> names,
                                name_service::remote_lookup remote, caf::error stopped) {
  self->state.names = std::move(names);
  self->state.remote = std::move(remote);
  self->set_exit_handler([self, stopped](caf::exit_msg& msg) {
    for (auto& w : self->state.waiting)
      w.promise.deliver(stopped);
    for (auto& [id, w] : self->state.asking)
      w.promise.deliver(stopped);
    self->state.waiting.clear();
    self->state.asking.clear();
    self->quit(std::move(msg.reason));
  });
  return {
    [self](lookup_atom, std::string& name, caf::timespan timeout) {
      return start_lookup(self, name, timeout, 0);
    },
    [self](lookup_atom, std::string& name, caf::timespan timeout, uint64_t interface) {
      return start_lookup(self, name, timeout, interface);
    },
    [self](recheck_atom) { recheck(self); },
    [self](remote_done_atom, uint64_t id, caf::actor& x) { remote_done(self, id, std::move(x)); },
    [self](remote_done_atom, uint64_t id, caf::error& err) {
      remote_done(self, id, std::move(err));
    },
    [self](remote_late_atom, uint64_t id) { remote_late(self, id); },
  };
}

} // namespace

name_service::name_service(caf::actor_system& sys, transport::node& transport,
                           peer_table& peers, caf::proxy_registry& proxies,
                           registry_entries& entries, const bus_settings& settings,
                           const std::atomic<bool>& stopping)
  : sys_(sys),
    transport_(transport),
    peers_(peers),
    proxies_(proxies),
    entries_(entries),
    settings_(settings),
    stopping_(stopping) {
  // nop
}

void name_service::start(remote_lookup remote) {
  // Hidden: the actor system's shutdown does not wait for it (the bus
  // stops it then).
  auto x = sys_.spawn<caf::hidden>(lookup_actor_impl, self_, std::move(remote),
                                   stopped_error(settings_.node_name, settings_.bus));
  std::lock_guard<std::mutex> guard(mtx_);
  actor_ = caf::actor_cast<name_service_actor>(std::move(x));
}

void name_service::stop() {
  name_service_actor x;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    std::swap(x, actor_);
    published_.clear();
    watched_.clear();
  }
  if (x)
    caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
}

name_service_actor name_service::actor() const {
  std::lock_guard<std::mutex> guard(mtx_);
  return actor_;
}

uint32_t name_service::epoch() const noexcept {
  // Pairs with the release increment of every name table change.
  return transport_.shared_segment().header().names_epoch.load(std::memory_order_acquire);
}

caf::error name_service::not_found(const std::string& name, caf::timespan timeout) const {
  return make_error(errc::name_not_found,
                    "nothing was published under '" + name + "' on bus '" + settings_.bus
                      + "' within "
                      + std::to_string(
                        std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count())
                      + " ms");
}

caf::error name_service::publish(caf::strong_actor_ptr x, const std::string& name,
                                 uint64_t interface) {
  if (!x)
    return caf::make_error(caf::sec::invalid_argument, "cannot publish an invalid actor handle");
  if (x->node() != sys_.node())
    return caf::make_error(caf::sec::invalid_argument,
                           "only actors of this process can be published (actor "
                             + std::to_string(x->id()) + " lives on another node)");
  auto aid = x->id();
  entries_.put(x);
  if (auto err = transport_.publish(name, aid, interface))
    return from_transport(err);
  bool watch;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    published_[name] = {aid, interface};
    watch = watched_.insert(aid).second;
  }
  if (watch) // names die with their actor
    x->get()->attach_functor([weak = self_, aid] {
      if (auto self = weak.lock())
        self->actor_down(aid);
    });
  return caf::none;
}

void name_service::actor_down(caf::actor_id aid) {
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    watched_.erase(aid);
    for (auto i = published_.begin(); i != published_.end();) {
      if (i->second.aid == aid) {
        names.push_back(i->first);
        i = published_.erase(i);
      } else {
        ++i;
      }
    }
  }
  if (stopping_.load(std::memory_order_acquire))
    return; // leaving the bus unpublished them
  for (auto& name : names)
    transport_.unpublish(name);
}

caf::error name_service::unpublish(const std::string& name) {
  {
    std::lock_guard<std::mutex> guard(mtx_);
    published_.erase(name);
  }
  if (auto err = transport_.unpublish(name))
    return from_transport(err);
  return caf::none;
}

void name_service::republish() {
  std::unordered_map<std::string, published_actor> names;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    names = published_;
  }
  for (auto& [name, x] : names)
    if (auto err = transport_.publish(name, x.aid, x.interface))
      std::fprintf(stderr, "shmbus[%s]: cannot publish '%s' again after rejoining: %s\n",
                   settings_.node_name.c_str(), name.c_str(), err.message.c_str());
}

caf::expected<caf::actor> name_service::lookup(const std::string& name,
                                               caf::timespan timeout, uint64_t interface) {
  auto found = timeout.count() > 0 ? transport_.await_name(name, timeout)
                                   : transport_.lookup(name);
  if (!found)
    return from_transport(found.err());
  if (interface != 0 && found->aux != interface)
    return make_error(errc::interface_mismatch,
                      "the actor published as '" + name
                        + (found->aux == 0 ? "' was published untyped"
                                           : "' has another typed interface")
                        + ", but the lookup asked for a typed actor; publish and "
                          "look up with the same typed_actor type");
  caf::strong_actor_ptr x;
  if (found->slot == transport_.slot()) {
    x = sys_.registry().get(found->value);
  } else if (auto nid = peers_.node_of(peer_ref{found->slot, found->incarnation})) {
    // By incarnation: the slot may hold a newer process than the I/O
    // thread has seen, or an older one.
    x = proxies_.get_or_put(nid, found->value);
    if (stopping_.load(std::memory_order_acquire)) {
      // The node stopped meanwhile and may have cleared its proxies
      // already: this one must not outlive them.
      proxies_.erase(nid, found->value);
      return stopped_error(settings_.node_name, settings_.bus);
    }
  }
  if (!x)
    return make_error(errc::name_not_found, "the actor published as '" + name + "' is gone");
  return caf::actor_cast<caf::actor>(std::move(x));
}

} // namespace shmbus::bus
