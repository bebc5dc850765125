#include "remote_machines.hpp"

#include <algorithm>
#include <set>
#include <sstream>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/make_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "shmbus/bus/errc.hpp"
#include "shmbus/log/logger.hpp"

#include "basp_relay_proxy.hpp"

namespace shmbus::bus {

namespace {

struct directory_state {
  /// BASP endpoints of the bus's processes, by node; bounded by the bus's
  /// node slots (entries of lost processes are dropped when it answers).
  std::map<caf::node_id, std::string> endpoints;
  /// The server's own endpoint, known once its port is bound.
  std::string own;
};

/// The machine's directory: processes of the bus register their BASP
/// endpoint over the bus; other machines ask it over BASP for the
/// endpoints, its bus name, the machines it was seeded with and published
/// names.
caf::behavior directory(caf::stateful_actor<directory_state>* self, std::string bus,
                        std::vector<std::string> seeds,
                        std::function<bool(const caf::node_id&)> is_peer,
                        remote_machines::local_lookup lookup, size_t max_entries) {
  return {
    [=](caf::put_atom, caf::ok_atom, const std::string& own) {
      if (self->state.own.empty()) // set once, by start()
        self->state.own = own;
    },
    [=](caf::put_atom, const std::string& endpoint) -> caf::result<caf::ok_atom> {
      auto& sender = self->current_sender();
      if (!sender || !is_peer(sender->node()))
        return make_error(errc::peer_lost, "only processes of bus '" + bus
                                             + "' register in its directory");
      auto& entries = self->state.endpoints;
      for (auto i = entries.begin(); i != entries.end();)
        i = is_peer(i->first) ? std::next(i) : entries.erase(i);
      if (entries.size() >= max_entries && entries.count(sender->node()) == 0)
        return make_error(errc::name_table_full, "the directory of bus '" + bus + "' is full");
      entries[sender->node()] = endpoint;
      return caf::ok_atom::value;
    },
    [=](caf::get_atom) -> caf::result<std::string, std::string, std::string> {
      std::string list = self->state.own;
      for (auto& [nid, endpoint] : self->state.endpoints)
        if (is_peer(nid))
          list += " " + endpoint;
      std::string known;
      for (auto& seed : seeds)
        known += seed + " ";
      return {bus, list, known};
    },
    [=](lookup_atom, const std::string& name, uint64_t interface) -> caf::result<caf::actor> {
      auto found = lookup(name, caf::timespan{0}, interface);
      if (!found)
        return std::move(found.error());
      return *found;
    },
  };
}

caf::io::basp_broker* basp_of(const caf::actor& hdl) {
  return static_cast<caf::io::basp_broker*>(caf::actor_cast<caf::abstract_actor*>(hdl));
}

std::vector<std::string> split(const std::string& text) {
  std::istringstream in{text};
  std::vector<std::string> result;
  for (std::string x; in >> x;)
    result.push_back(x);
  return result;
}

} // namespace

remote_machines::remote_machines(caf::actor_system& sys, const bus_settings& settings,
                                 peer_table& peers)
  : sys_(sys), settings_(settings), peers_(peers) {
  // nop
}

remote_machines::~remote_machines() {
  stop();
}

caf::error remote_machines::start(local_lookup lookup, local_publish publish,
                                  std::function<bool(const caf::node_id&)> is_peer) {
  if (!settings_.remote)
    return caf::none;
  lookup_ = std::move(lookup);
  is_peer_ = std::move(is_peer);
  auto& mm = sys_.middleman();
  basp_ = mm.named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  basp_proxies_ = &basp_of(basp_)->instance.proxies();
  auto server = settings_.role == "server";
  caf::expected<uint16_t> port{uint16_t{0}};
  if (server) {
    // The directory answers at the server's BASP port: a seed names it.
    directory_ = sys_.spawn<caf::hidden>(directory, settings_.bus, settings_.remote_seeds,
                                         is_peer_, lookup_,
                                         static_cast<size_t>(settings_.node_slots));
    port = mm.publish(directory_, settings_.remote_port, settings_.remote_host.c_str(), true);
  } else {
    port = mm.open(settings_.remote_port, settings_.remote_host.c_str(), true);
  }
  if (!port) {
    if (directory_)
      caf::anon_send_exit(directory_, caf::exit_reason::user_shutdown);
    directory_ = nullptr;
    return caf::make_error(caf::sec::cannot_open_port,
                           "cannot open BASP port " + std::to_string(settings_.remote_port)
                             + " on " + settings_.remote_host + " (shmbus.remote.port/host): "
                             + sys_.render(port.error()));
  }
  port_ = *port;
  // What the directory tells other machines (validate() refused a wildcard
  // advertise).
  endpoint_ = settings_.advertised_host() + ":" + std::to_string(port_);
  if (bus_settings::wildcard_host(settings_.advertised_host()))
    log::write(log::level::warning, "bus", "remote_wildcard_host",
               "shmbus.remote.host is " + settings_.remote_host
                 + ": this process listens on every address but tells other machines to "
                   "connect to " + endpoint_ + ", which only this host can; set "
                   "shmbus.remote.advertise (or the host) to this machine's address on the "
                   "cluster network",
               {{"node", settings_.node_name}});
  if (server) {
    caf::anon_send(directory_, caf::put_atom::value, caf::ok_atom::value, endpoint_);
    if (auto err = publish(caf::actor_cast<caf::strong_actor_ptr>(directory_), directory_name))
      return err;
    registered_ = true;
  }
  for (auto& seed : settings_.remote_seeds)
    machines_.push_back(machine{seed, false, false, {}, {}, {}});
  thread_ = std::thread([this] { run(); });
  return caf::none;
}

void remote_machines::stop() {
  {
    std::lock_guard<std::mutex> guard(mtx_);
    if (stopping_)
      return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
  if (directory_) {
    sys_.middleman().unpublish(directory_, port_);
    caf::anon_send_exit(directory_, caf::exit_reason::user_shutdown);
  } else if (port_ != 0) {
    sys_.middleman().close(port_);
  }
}

caf::strong_actor_ptr remote_machines::relay(const caf::node_id& nid, caf::actor_id aid,
                                             std::function<void()> on_death) {
  caf::proxy_registry* basp = nullptr;
  bool direct = false;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    if (!stopping_) {
      basp = basp_proxies_;
      direct = connected_nodes_.count(nid) > 0;
    }
  }
  if (basp == nullptr)
    return nullptr;
  caf::actor_config cfg;
  if (!direct) {
    // BASP would kill a proxy of a node it has no route to at once.
    auto relay = caf::make_actor<basp_relay_proxy, caf::strong_actor_ptr>(aid, nid, &sys_, cfg,
                                                                           nullptr);
    {
      std::lock_guard<std::mutex> guard(mtx_);
      waiting_.push_back(waiting_relay{caf::actor_cast<caf::weak_actor_ptr>(relay), nid, aid,
                                       std::chrono::steady_clock::now()
                                         + 2 * settings_.remote_timeout,
                                       std::move(on_death)});
      wake_ = true;
    }
    cv_.notify_all();
    return relay;
  }
  auto target = basp->get_or_put(nid, aid);
  if (!target)
    return nullptr;
  auto relay = caf::make_actor<basp_relay_proxy, caf::strong_actor_ptr>(aid, nid, &sys_, cfg,
                                                                         target);
  follow(relay, target, std::move(on_death));
  return relay;
}

void remote_machines::follow(const caf::strong_actor_ptr& relay,
                             const caf::strong_actor_ptr& target,
                             std::function<void()> on_death) {
  auto weak = caf::actor_cast<caf::weak_actor_ptr>(relay);
  // Runs at once if BASP's proxy is dead already (no route to its node).
  target->get()->attach_functor([weak, on_death](const caf::error& reason) {
    if (auto r = caf::actor_cast<caf::strong_actor_ptr>(weak))
      static_cast<basp_relay_proxy*>(r->get())->kill_proxy(nullptr, reason);
    on_death();
  });
}

void remote_machines::bind_waiting() {
  std::vector<waiting_relay> due;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    due.swap(waiting_);
  }
  if (due.empty())
    return;
  caf::scoped_actor self{sys_, true};
  std::vector<waiting_relay> still;
  for (auto& w : due) {
    auto relay = caf::actor_cast<caf::strong_actor_ptr>(w.relay);
    if (!relay)
      continue; // nobody holds it any more
    if (std::chrono::steady_clock::now() < w.deadline && !direct_route(self, w.nid)) {
      still.push_back(std::move(w));
      continue;
    }
    // A direct route, or the deadline: whatever route BASP has (none: its
    // proxy is born dead, and the relay dies with it).
    auto target = basp_proxies_->get_or_put(w.nid, w.aid);
    if (!target) {
      static_cast<basp_relay_proxy*>(relay->get())
        ->kill_proxy(nullptr, caf::exit_reason::remote_link_unreachable);
      w.on_death();
      continue;
    }
    static_cast<basp_relay_proxy*>(relay->get())->bind(target);
    follow(relay, target, std::move(w.on_death));
  }
  std::lock_guard<std::mutex> guard(mtx_);
  waiting_.insert(waiting_.end(), std::make_move_iterator(still.begin()),
                  std::make_move_iterator(still.end()));
}

bool remote_machines::direct_route(caf::scoped_actor& self, const caf::node_id& nid) {
  bool direct = false;
  self->request(basp_, settings_.remote_timeout, caf::get_atom::value, nid)
    .receive([&](const caf::node_id&, const std::string&, uint16_t port) { direct = port != 0; },
             [](caf::error&) {});
  return direct;
}

void remote_machines::peer_lost(const caf::node_id& nid) {
  caf::proxy_registry* basp = nullptr;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    if (!stopping_)
      basp = basp_proxies_;
  }
  if (basp == nullptr)
    return;
  // BASP reaches a neighbour only through another machine and would never
  // learn of its loss; the bus knows. The routing table belongs to the
  // broker's thread (the middleman's multiplexer).
  sys_.middleman().backend().dispatch([broker = basp_, nid] {
    basp_of(broker)->instance.tbl().erase_indirect(nid);
  });
  basp->erase(nid);
}

void remote_machines::run() {
  auto next_round = std::chrono::steady_clock::now(); // the first at once
  std::unique_lock<std::mutex> guard(mtx_);
  while (!stopping_) {
    wake_ = false;
    guard.unlock();
    bind_waiting(); // a relay of a node connected meanwhile needs no round
    bool waiting = false;
    {
      std::lock_guard<std::mutex> state(mtx_);
      waiting = !waiting_.empty();
    }
    if (waiting || std::chrono::steady_clock::now() >= next_round) {
      refresh();
      bind_waiting();
      next_round = std::chrono::steady_clock::now() + settings_.remote_refresh;
    }
    guard.lock();
    auto until = next_round;
    if (!waiting_.empty())
      until = std::min(until, std::chrono::steady_clock::now() + waiting_round);
    cv_.wait_until(guard, until, [this] { return stopping_ || wake_; });
  }
  // Stopped: relays still waiting never get a route.
  auto left = std::move(waiting_);
  waiting_.clear();
  guard.unlock();
  for (auto& w : left) {
    if (auto relay = caf::actor_cast<caf::strong_actor_ptr>(w.relay))
      static_cast<basp_relay_proxy*>(relay->get())
        ->kill_proxy(nullptr, caf::exit_reason::remote_link_unreachable);
    w.on_death();
  }
}

void remote_machines::refresh() {
  std::lock_guard<std::mutex> guard(conn_mtx_);
  if (!registered_) {
    auto dir = lookup_(directory_name, caf::timespan{0}, 0);
    if (dir) {
      caf::scoped_actor self{sys_, true};
      self->request(*dir, settings_.remote_timeout, caf::put_atom::value, endpoint_)
        .receive([&](caf::ok_atom) { registered_ = true; },
                 [&](caf::error& err) {
                   log::write(log::level::warning, "bus", "remote_register",
                              "cannot register in this machine's directory: "
                                + sys_.render(err),
                              {{"node", settings_.node_name}});
                 });
    }
  }
  for (size_t i = 0; i < machines_.size(); ++i)
    if (!machines_[i].dropped)
      connect_machine(machines_[i]);
  // Learned seeds join after the loop (machines_ must not grow under it).
  for (auto& seed : pending_seeds_)
    if (machines_.size() < max_machines
        && std::none_of(machines_.begin(), machines_.end(),
                        [&](const machine& x) { return x.seed == seed; }))
      machines_.push_back(machine{seed, true, false, {}, {}, {}});
  pending_seeds_.clear();
  std::vector<std::string> names;
  for (auto& m : machines_)
    if (!m.bus.empty())
      names.push_back(m.bus);
  size_t connections = 0;
  std::set<caf::node_id> nodes;
  for (auto& m : machines_) {
    connections += m.connected.size();
    for (auto& [endpoint, nid] : m.connected)
      nodes.insert(nid);
  }
  std::lock_guard<std::mutex> state(mtx_);
  machine_names_ = std::move(names);
  connections_ = connections;
  connected_nodes_ = std::move(nodes);
}

void remote_machines::connect_machine(machine& m) {
  caf::scoped_actor self{sys_, true};
  if (!m.directory) {
    auto where = bus_settings::parse_endpoint(m.seed);
    self->request(sys_.middleman().actor_handle(), settings_.remote_timeout,
                  caf::connect_atom::value, where->first, where->second)
      .receive(
        [&](const caf::node_id& nid, caf::strong_actor_ptr& dir, const std::set<std::string>&) {
          auto known = std::any_of(machines_.begin(), machines_.end(), [&](const machine& x) {
            return &x != &m && x.directory && x.directory.node() == nid;
          });
          if (m.learned && (known || nid == sys_.node() || is_peer_(nid))) {
            m.dropped = true; // this machine, or one known under another address
            return;
          }
          if (nid == sys_.node() || is_peer_(nid)) {
            refuse("seed " + m.seed + " has node id " + caf::to_string(nid)
                   + ", the id of a process of this machine: it is this machine, or two "
                     "machines derived the same CAF node id (give them distinct MAC "
                     "addresses or machine ids)");
            return;
          }
          if (!dir) {
            refuse("seed " + m.seed + " publishes no directory: it must be the BASP port "
                   "(shmbus.remote.port) of another machine's bus server");
            return;
          }
          m.directory = caf::actor_cast<caf::actor>(std::move(dir));
        },
        [&](caf::error&) {
          // Not up yet, or lost: asked again next round.
        });
    if (!m.directory)
      return;
  }
  std::string bus;
  std::vector<std::string> endpoints;
  std::vector<std::string> seeds;
  bool answered = false;
  self->request(m.directory, settings_.remote_timeout, caf::get_atom::value)
    .receive(
      [&](std::string& name, std::string& list, std::string& known) {
        answered = true;
        bus = std::move(name);
        endpoints = split(list);
        seeds = split(known);
      },
      [&](caf::error&) {
        // The machine's server is gone: find its successor at the seed.
        m.directory = nullptr;
      });
  if (!answered)
    return;
  m.bus = bus;
  // The machines that machine knows: handles of their actors may come
  // through it, and need direct routes too. Connected from the next round.
  for (auto& seed : seeds) {
    auto known = std::any_of(machines_.begin(), machines_.end(),
                             [&](const machine& x) { return x.seed == seed; });
    if (!known && machines_.size() < max_machines && bus_settings::parse_endpoint(seed))
      pending_seeds_.push_back(seed);
  }
  // Forget processes that left that machine, and connections BASP closed.
  for (auto i = m.connected.begin(); i != m.connected.end();) {
    bool listed = std::find(endpoints.begin(), endpoints.end(), i->first) != endpoints.end();
    if (!listed || !direct_route(self, i->second))
      i = m.connected.erase(i);
    else
      ++i;
  }
  for (auto& endpoint : endpoints)
    connect_endpoint(m, endpoint);
}

void remote_machines::connect_endpoint(machine& m, const std::string& endpoint) {
  if (m.connected.count(endpoint) > 0 || endpoint == endpoint_)
    return;
  auto where = bus_settings::parse_endpoint(endpoint);
  if (!where)
    return;
  caf::scoped_actor self{sys_, true};
  self->request(sys_.middleman().actor_handle(), settings_.remote_timeout,
                caf::connect_atom::value, where->first, where->second)
    .receive(
      [&](const caf::node_id& nid, caf::strong_actor_ptr&, const std::set<std::string>&) {
        if (nid == sys_.node() || is_peer_(nid)) {
          refuse("process at " + endpoint + " of machine '" + m.bus + "' has node id "
                 + caf::to_string(nid)
                 + ", the id of a process of this machine: two machines derived the same "
                   "CAF node id (give them distinct MAC addresses or machine ids); refused");
          return;
        }
        for (auto& other : machines_)
          for (auto& [where, known] : other.connected)
            if (known == nid && where != endpoint) {
              refuse("process at " + endpoint + " of machine '" + m.bus + "' has node id "
                     + caf::to_string(nid) + ", seen before at " + where
                     + " of machine '" + other.bus
                     + "': two machines derived the same CAF node id (give them distinct "
                       "MAC addresses or machine ids); refused");
              return;
            }
        m.connected[endpoint] = nid;
        monitor_again(nid);
      },
      [&](caf::error&) {
        // Asked again next round.
      });
}

void remote_machines::monitor_again(const caf::node_id& nid) {
  for (auto& proxy : basp_proxies_->get_all(nid))
    caf::anon_send(basp_, caf::monitor_atom::value, proxy);
}

void remote_machines::refuse(const std::string& text) {
  std::lock_guard<std::mutex> guard(mtx_);
  if (std::find(refused_.begin(), refused_.end(), text) != refused_.end())
    return;
  log::write(log::level::error, "bus", "remote_refused", text, {{"node", settings_.node_name}});
  if (refused_.size() == max_refusals)
    refused_.erase(refused_.begin());
  refused_.push_back(text);
}

caf::expected<caf::actor> remote_machines::lookup(const std::string& name,
                                                  const std::string& machine,
                                                  uint64_t interface, caf::timespan timeout) {
  if (!settings_.remote)
    return make_error(errc::name_not_found, "nothing is published as '" + name + "'");
  auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto found = lookup_once(name, machine, interface);
    if (found || found.error() == errc::interface_mismatch || machine.empty()
        || std::chrono::steady_clock::now() >= until)
      return found;
    std::unique_lock<std::mutex> guard(mtx_);
    auto next = std::min(until, std::chrono::steady_clock::now() + settings_.remote_refresh);
    if (cv_.wait_until(guard, next, [this] { return stopping_; }))
      return make_error(errc::not_attached, "the bus node stopped");
  }
}

caf::expected<caf::actor> remote_machines::lookup_once(const std::string& name,
                                                       const std::string& machine,
                                                       uint64_t interface) {
  std::lock_guard<std::mutex> guard(conn_mtx_);
  std::vector<std::string> asked;
  caf::error mismatch; // the name is there, with another interface
  for (auto& m : machines_) {
    if (m.dropped)
      continue;
    if (!m.directory)
      connect_machine(m); // not reached yet: try now rather than next round
    if (!m.directory || (!machine.empty() && m.bus != machine))
      continue;
    asked.push_back(m.bus);
    caf::scoped_actor self{sys_, true};
    caf::actor found;
    self->request(m.directory, settings_.remote_timeout, lookup_atom::value, name, interface)
      .receive([&](caf::actor& x) { found = std::move(x); },
               [&](caf::error& err) {
                 if (err == errc::interface_mismatch && !mismatch)
                   mismatch = std::move(err);
               });
    if (!found)
      continue;
    // Its owner may have joined after the last round: connect now, so that
    // the handle is backed by a direct route (and monitored again).
    if (!direct_route(self, found.node()))
      connect_machine(m);
    return found;
  }
  if (mismatch)
    return mismatch;
  if (!machine.empty() && asked.empty())
    return make_error(errc::name_not_found,
                      "no machine '" + machine
                        + "' answered among shmbus.remote.seeds (node::remote() lists "
                          "those that did)");
  std::string where = machine.empty() ? "on any other machine" : "on machine '" + machine + "'";
  return make_error(errc::name_not_found, "nothing is published as '" + name + "' " + where);
}

remote_view remote_machines::view() const {
  remote_view result;
  if (!settings_.remote)
    return result;
  std::lock_guard<std::mutex> guard(mtx_);
  result.port = port_;
  result.machines = machine_names_;
  result.connections = connections_;
  result.refused = refused_;
  return result;
}

} // namespace shmbus::bus
