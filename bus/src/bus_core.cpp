#include "bus_core.hpp"

#include <cstring>
#include <fstream>
#include <future>

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <caf/exit_reason.hpp>
#include <caf/make_actor.hpp>

#include "buffer_storage.hpp"
#include "error_mapping.hpp"
#include "shmbus/log/logger.hpp"
#include "shm_actor_proxy.hpp"
#include "wire.hpp"

namespace shmbus::bus {

namespace {

using namespace std::chrono_literals;

/// How long the idle I/O thread waits for a record before it looks around
/// again: briefly while records wait for a full inbox (nobody wakes it
/// when that inbox drains), otherwise one transport park.
constexpr std::chrono::nanoseconds queued_recheck = 200us;
constexpr std::chrono::nanoseconds idle_wait = transport::defaults::max_park;

transport::node_role role_of(const std::string& x) {
  return x == "server" ? transport::node_role::server : transport::node_role::client;
}

std::string program_name() {
  std::ifstream comm{"/proc/self/comm"};
  std::string name;
  std::getline(comm, name);
  return name.empty() ? "shmbus" : name;
}

transport::node_options transport_options(const bus_settings& settings,
                                          const caf::node_id& self) {
  transport::node_options opts;
  opts.bus = settings.bus;
  opts.role = role_of(settings.role);
  opts.name = settings.node_name;
  opts.limits.node_slots = static_cast<uint32_t>(settings.node_slots);
  opts.limits.inbox_bytes = static_cast<uint32_t>(settings.inbox_size);
  opts.limits.max_message_bytes = static_cast<uint32_t>(settings.max_message_size);
  opts.limits.name_entries = static_cast<uint32_t>(settings.name_entries);
  opts.checksums = settings.checksums == "on";
  opts.kill_hung_peers = settings.kill_hung_peers;
  opts.limits.supervision_entries = static_cast<uint32_t>(settings.supervision_entries);
  opts.limits.error_entries = static_cast<uint32_t>(settings.error_entries);
  opts.limits.pool_bytes = settings.pool_size;
  opts.limits.pool_max_block = settings.pool_max_block;
  opts.limits.pool_holder_entries = static_cast<uint32_t>(settings.pool_holder_entries);
  opts.file_mode = *bus_settings::parse_file_mode(settings.file_mode);
  opts.timing.heartbeat_interval = settings.heartbeat_interval;
  opts.timing.heartbeat_timeout = settings.heartbeat_timeout;
  opts.full_inbox_timeout = settings.full_inbox_timeout;
  opts.attach_timeout = settings.attach_timeout;
  opts.wait_for_clients = settings.wait_for_clients;
  opts.idle = *transport::parse_idle_strategy(settings.idle_strategy);
  // The I/O threads are stuck: nothing else of the bus can say so.
  opts.on_stall = [name = settings.node_name](const transport::error& err) {
    log::write(log::level::error, "bus", "io_stalled", err.message, {{"node", name}});
  };
  auto id = wire::to_bytes(self);
  opts.user_data.assign(id.begin(), id.end());
  return opts;
}

/// The bus's buffer pool, mapped for this node; null when the bus has none.
std::shared_ptr<transport::buffer_pool> open_pool(transport::node& node) {
  if (node.shared_segment().pool_base() == nullptr)
    return nullptr;
  auto pool = transport::buffer_pool::open(node.shared_segment(), node.slot(), node.incarnation());
  if (!pool) {
    log::write(log::level::warning, "bus", "no_buffer_pool", pool.err().message,
               {{"node", node.name()}});
    return nullptr;
  }
  return std::move(*pool);
}

} // namespace

// -- lifecycle ----------------------------------------------------------------

caf::expected<std::shared_ptr<bus_core>> bus_core::start(caf::actor_system& sys,
                                                         bus_settings settings) {
  if (settings.node_name.empty())
    settings.node_name = program_name() + "-" + std::to_string(::getpid());
  if (auto err = settings.validate())
    return err;
  if (auto threshold = log::parse_level(settings.log_level))
    log::set_level(*threshold);
  if (!sys.node())
    return caf::make_error(caf::sec::invalid_argument,
                           "the actor system has no node id: load caf::io::middleman "
                           "(shmbus::bus::config does) before starting a bus node");
  auto started = transport::node::start(transport_options(settings, sys.node()));
  if (!started)
    return from_transport(started.err());
  std::shared_ptr<bus_core> core{
    new bus_core(sys, std::move(settings), std::move(*started))};
  // Callbacks attached to actors hold the parts weakly: they outlive
  // neither the core nor its stop.
  core->links_.bind(std::shared_ptr<remote_links>(core, &core->links_));
  core->names_.bind(std::shared_ptr<name_service>(core, &core->names_));
  core->spawn_.bind(std::shared_ptr<spawn_service>(core, &core->spawn_));
  for (auto& note : core->transport_->start_notes())
    core->log_.write_always(note);
  // Peers present now are known before start() returns, so that lookups
  // right after it resolve.
  for (auto& peer : core->transport_->peers())
    if (peer.slot != core->transport_->slot()) {
      core->peers_.remember(peer);
      if (peer_ref ref{peer.slot, peer.incarnation}; core->peers_.alive(ref))
        core->groups_.peer_joined(ref);
    }
  core->groups_.bind(std::shared_ptr<group_router>(core, &core->groups_));
  name_service::remote_lookup remote;
  if (core->remote_.enabled()) {
    std::weak_ptr<bus_core> weak = core;
    remote = [weak](const std::string& name, caf::timespan timeout, uint64_t interface) {
      if (auto self = weak.lock())
        return self->lookup(name, timeout, interface);
      return caf::expected<caf::actor>{make_error(errc::not_attached, "the bus node stopped")};
    };
  }
  core->names_.start(std::move(remote));
  core->spawn_.start();
  // Both threads are known to the execution unit before either runs.
  std::promise<void> go;
  auto bound = go.get_future().share();
  auto spawn = [raw = core.get(), bound](int me, const char* name) {
    return std::thread([raw, bound, me, name] {
      ::pthread_setname_np(::pthread_self(), name);
      if (me == 0)
        raw->pin_io_thread();
      bound.wait();
      raw->io_loop(me);
    });
  };
  core->io_thread_ = spawn(0, "shmbus.io");
  core->eu_.bind_thread(0, core->io_thread_.get_id());
  if (core->settings_.dispatch == "inline") {
    core->standby_thread_ = spawn(1, "shmbus.io2");
    core->eu_.bind_thread(1, core->standby_thread_.get_id());
  }
  go.set_value();
  if (!core->settings_.remote
      && core->names_.lookup(remote_machines::directory_name, caf::timespan{0}, 0)) {
    // The machine's server takes part in a cluster; BASP cannot route to a
    // process without a BASP port, so other machines could not reach this
    // process's actors (their messages would vanish without an error).
    core->stop();
    return caf::make_error(caf::sec::invalid_argument,
                           "option shmbus.remote.enabled: bus '" + core->settings_.bus
                             + "' takes part in a cluster of machines (its server runs with "
                               "shmbus.remote.enabled); start this process with "
                               "shmbus.remote.enabled and the cluster's seeds too");
  }
  std::weak_ptr<bus_core> weak = core;
  auto err = core->remote_.start(
    [weak](const std::string& name, caf::timespan timeout, uint64_t interface) {
      if (auto self = weak.lock(); self && self->running())
        return self->names_.lookup(name, timeout, interface);
      return caf::expected<caf::actor>{make_error(errc::not_attached, "the bus node stopped")};
    },
    [weak](caf::strong_actor_ptr x, const std::string& name) {
      if (auto self = weak.lock(); self && self->running())
        return self->names_.publish(std::move(x), name, 0);
      return make_error(errc::not_attached, "the bus node stopped");
    },
    [weak](const caf::node_id& nid) {
      auto self = weak.lock();
      return self && self->running() && self->peers_.route(nid).has_value();
    });
  if (err) {
    core->stop();
    return err;
  }
  return core;
}

bus_core::bus_core(caf::actor_system& sys, bus_settings settings,
                   std::unique_ptr<transport::node> transport)
  : sys_(sys),
    settings_(std::move(settings)),
    transport_(std::move(transport)),
    pool_(open_pool(*transport_)),
    proxies_(sys, *this),
    token_(settings_.inline_budget, transport_->timing().heartbeat_interval),
    eu_(sys, proxies_, token_, settings_.dispatch == "inline"),
    log_(settings_.node_name, *transport_),
    peers_(*transport_),
    pending_(sys, settings_.max_pending_requests),
    entries_(sys),
    codec_(sys, proxies_, eu_, peers_, entries_, pool_),
    outbox_(sys, *transport_, *this, eu_, peers_, pending_, log_, settings_),
    links_(sys, proxies_, eu_, peers_, codec_, outbox_, entries_),
    names_(sys, *transport_, peers_, proxies_, entries_, settings_, stopping_),
    spawn_(sys, settings_, log_),
    groups_(sys, settings_, *transport_, peers_, codec_, outbox_, eu_, log_),
    inbound_(sys, settings_, proxies_, eu_, peers_, pending_, codec_, links_, stop_, strays_,
             groups_, log_),
    forwarder_(sys, settings_, stopping_, peers_, pending_, codec_, outbox_, links_, log_),
    remote_(sys, settings_, peers_) {
  // A client runs with the sizes and timing of the bus it joined, not with
  // its own (unused) defaults: the send path checks max_message_size.
  auto& limits = transport_->limits();
  settings_.inbox_size = limits.inbox_bytes;
  settings_.max_message_size = limits.max_message_bytes;
  settings_.node_slots = limits.node_slots;
  settings_.name_entries = limits.name_entries;
  settings_.supervision_entries = limits.supervision_entries;
  settings_.error_entries = limits.error_entries;
  settings_.pool_size = limits.pool_bytes;
  settings_.pool_max_block = limits.pool_max_block;
  settings_.pool_holder_entries = limits.pool_holder_entries;
  settings_.heartbeat_interval = transport_->timing().heartbeat_interval;
  settings_.heartbeat_timeout = transport_->timing().heartbeat_timeout;
}

bus_core::~bus_core() {
  // stop() ran before (bus_module::stop() or node::stop()) and the actor
  // system may be gone: only the transport is left to release. The I/O
  // thread holds no reference, so this never runs on it.
  stopping_.store(true, std::memory_order_release);
  join_io_threads();
}

void bus_core::join_io_threads() {
  transport_->begin_leave(); // the consumer stops on purpose
  transport_->wake();
  token_.wake_all();
  for (auto* t : {&io_thread_, &standby_thread_})
    if (t->joinable())
      t->join();
}

void bus_core::stop() {
  leave({});
}

void bus_core::leave(const std::string& evicted) {
  if (eu_.on_io_thread()) {
    // The I/O thread (or an actor running on it) cannot wait for that
    // thread to end: refuse work at once, finish on a thread of its own.
    stopping_.store(true, std::memory_order_release);
    transport_->wake();
    token_.wake_all();
    std::thread([self = shared_from_this(), evicted] { self->stop_now(evicted); }).detach();
    return;
  }
  stop_now(evicted);
}

void bus_core::stop_now(const std::string& evicted) {
  std::lock_guard<std::mutex> guard(lifecycle_mtx_);
  if (stopped_)
    return;
  stopped_ = true;
  // 1. From now on the send path bounces; the I/O thread ends.
  stopping_.store(true, std::memory_order_release);
  peers_.close();
  join_io_threads();
  remote_.stop();
  // 2. Waiting lookups fail; every proxy dies: local monitors and links of
  //    remote actors fire.
  names_.stop();
  spawn_.stop();
  groups_.unbind();
  proxies_.clear();
  // 3. Requests still waiting fail; records still queued are answered.
  pending_.fail(caf::node_id{}, 0);
  outbox_.drop_all(make_error(errc::not_attached, "the bus node stopped"));
  links_.clear();
  // 4. Peers see us leave (after our last record to each).
  transport_->leave();
  // 5. CAF keeps every local actor that was ever serialized in its registry
  //    with a strong reference; the actor system's destructor would wait for
  //    them forever. Nothing can reach them over the bus any more. Only the
  //    entries the bus made go: CAF's middleman and the application keep
  //    theirs.
  entries_.release_all();
  strays_.purge(proxies_);
  codec_.registry_released();
  // 6. The cause goes out last: whoever waits for it finds the down
  //    messages and failed requests in the mailboxes already.
  if (evicted.empty())
    stop_.stopped();
  else
    stop_.evicted(evicted);
}

void bus_core::release_registry() {
  entries_.release_all();
  codec_.registry_released();
}

caf::error bus_core::stopped_error() const {
  auto why = stop_.current();
  if (why.cause == stop_cause::evicted)
    return make_error(errc::not_attached, "bus node '" + settings_.node_name + "' of bus '"
                                            + settings_.bus + "' left the bus: " + why.text
                                            + "; start a new node to use the bus");
  return bus::stopped_error(settings_.node_name, settings_.bus);
}

// -- proxies ------------------------------------------------------------------

caf::strong_actor_ptr bus_core::make_proxy(caf::node_id nid, caf::actor_id aid) {
  // Runs under the proxy registry's lock: nothing here may call back into
  // the registry, and nothing may block (the WATCH never waits for room).
  if (!nid || aid == caf::invalid_actor_id) {
    strays_.note(nid, aid); // the registry keeps an empty entry otherwise
    return nullptr;
  }
  auto ref = running() ? peers_.route(nid) : std::nullopt;
  if (!ref && remote_.enabled() && running()) {
    // An actor of another machine (or of a process that left): BASP's
    // proxy behind a relay the bus owns; the registry forgets the relay
    // once it died.
    auto relay = remote_.relay(nid, aid, [weak = weak_from_this(), nid, aid] {
      if (auto self = weak.lock())
        self->strays_.note(nid, aid);
    });
    if (relay)
      return relay;
  }
  caf::actor_config cfg;
  auto proxy = caf::make_actor<shm_actor_proxy, caf::strong_actor_ptr>(
    aid, nid, &sys_, cfg, weak_from_this(), ref ? ref->slot : 0, ref ? ref->incarnation : 0);
  if (!ref) {
    // An actor of a process that is gone: born dead, so monitors get their
    // down_msg and requests fail at once.
    static_cast<shm_actor_proxy*>(proxy->get())
      ->kill_proxy(nullptr, caf::exit_reason::remote_link_unreachable);
    strays_.note(nid, aid);
    return proxy;
  }
  std::vector<char> buf;
  record_codec::control_record(buf, wire::kind::watch, aid);
  outbox_.send_control(*ref, buf);
  return proxy;
}

// -- the I/O thread -------------------------------------------------------------

void bus_core::pin_io_thread() {
  auto cpu = settings_.io_cpu;
  if (cpu < 0)
    return;
  cpu_set_t mask;
  CPU_ZERO(&mask);
  CPU_SET(cpu, &mask);
  // validate() checked the CPU against the process's mask; it can change
  // since (taskset from outside): the thread then runs unpinned.
  if (auto rc = ::pthread_setaffinity_np(::pthread_self(), sizeof(mask), &mask); rc != 0)
    log::write(log::level::warning, "bus", "io_cpu_not_pinned",
               "the I/O thread could not be pinned to CPU " + std::to_string(cpu)
                 + " (shmbus.io-cpu): " + std::strerror(rc) + "; it runs unpinned",
               {{"node", settings_.node_name}});
}

void bus_core::io_loop(int me) {
  auto poll = [this] { return transport_->poll(*this, outbox::io_batch); };
  while (running()) {
    if (!token_.is_consumer(me)) {
      token_.stand_by(me, stopping_);
      continue;
    }
    auto n = eu_.handle_records(poll);
    if (!token_.is_consumer(me)) {
      // The standby took over while we read: it runs what we queued.
      transport_->wake();
      continue;
    }
    n += eu_.run_ready(me, outbox::io_batch);
    outbox_.flush();
    if (n == 0 && !eu_.has_ready() && token_.is_consumer(me)) {
      auto wait = outbox_.has_queued() ? queued_recheck : idle_wait;
      bool waited = false;
      eu_.handle_records([&] {
        waited = true;
        return transport_->run_once(*this, wait, outbox::io_batch);
      });
      if (!waited) // an actor on the other thread drains the inbox briefly
        std::this_thread::yield();
    }
  }
  eu_.hand_over_all();
}

void bus_core::on_message(const transport::message_view& msg) {
  inbound_.handle(msg);
}

void bus_core::on_peer_joined(const transport::peer_info& peer) {
  codec_.forget_peer(peer.slot);
  peers_.remember(peer);
  if (peer_ref ref{peer.slot, peer.incarnation}; peers_.alive(ref))
    groups_.peer_joined(ref);
}

void bus_core::on_peer_lost(const transport::peer_loss& loss) {
  auto slot = loss.peer.slot;
  auto text = loss.describe();
  if (slot == transport_->slot()) {
    evicted(loss);
    return;
  }
  // The down messages first: a supervisor's restart waits for them, and
  // the bookkeeping below (the log line, the buffer pool's scan) does not.
  auto nid = peers_.forget(loss);
  codec_.forget_peer(slot);
  groups_.peer_lost(slot);
  if (nid) {
    // Every proxy dies with remote_link_unreachable (its pending requests
    // fail first, see shm_actor_proxy::kill_proxy); requests to actors we
    // had no proxy for fail too.
    proxies_.erase(nid);
    pending_.fail(nid, 0);
    remote_.peer_lost(nid);
  }
  outbox_.drop(slot, caf::sec::request_receiver_down);
  strays_.purge(proxies_);
  // A goodbye is routine; a process that died or hung is news.
  auto severity = loss.cause == transport::loss_cause::left ? log::level::debug
                                                            : log::level::info;
  log::write(severity, "bus", "peer_lost", text,
             {{"node", settings_.node_name},
              {"peer", loss.peer.name},
              {"pid", std::to_string(loss.peer.pid)},
              {"cause", transport::to_string(loss.cause)}});
  // The server drops the lost node's buffer references (DESIGN.md, "Shared
  // buffers"); the bus ends with the server, so nobody else needs to.
  if (pool_ && role_of(settings_.role) == transport::node_role::server) {
    auto alive = [this](uint32_t s, uint32_t inc) {
      auto p = transport_->peer(s);
      return p && p->incarnation == inc;
    };
    auto dropped = pool_->release_holder(slot, loss.peer.incarnation, alive);
    if (dropped > 0)
      log::write(log::level::debug, "bus", "buffers_released",
                 std::to_string(dropped) + " buffer references of the lost node dropped",
                 {{"node", settings_.node_name}, {"peer", loss.peer.name}});
  }
  // Reported after the down messages above were enqueued: a program that
  // stops its actors when await_stop_request() returns lets them see those
  // first.
  if (loss.peer.role == transport::node_role::server
      && role_of(settings_.role) == transport::node_role::client)
    stop_.server_lost(text);
}

void bus_core::evicted(const transport::peer_loss& loss) {
  auto text = "the peers declared node '" + settings_.node_name + "' lost ("
              + loss.describe() + ")";
  if (settings_.on_evicted == "rejoin") {
    auto err = rejoin();
    if (!err) {
      log_.write_always(text + "; it rejoined the bus as a new incarnation "
                               "(shmbus.on-evicted=rejoin)");
      return;
    }
    log_.write_always(text + "; it cannot rejoin (" + sys_.render(err) + ") and leaves");
  }
  log_.write_always(text + "; it leaves the bus (shmbus.on-evicted=leave)");
  leave(text);
}

caf::error bus_core::rejoin() {
  // A new incarnation in the slot whose lock this process still holds.
  if (auto err = transport_->rejoin())
    return from_transport(err);
  if (pool_)
    pool_->set_incarnation(transport_->incarnation());
  // The peers killed their proxies of our actors and failed their requests
  // to us; everything this node knew of them belongs to the old
  // incarnation. Its actors see the same down messages as after a stop.
  proxies_.clear();
  pending_.fail(caf::node_id{}, 0);
  outbox_.drop_all(caf::sec::request_receiver_down);
  links_.clear();
  for (uint32_t slot = 0; slot < peers_.slots(); ++slot) {
    codec_.forget_peer(slot);
    groups_.peer_lost(slot);
  }
  // The peers forgot this node's groups with its old incarnation.
  for (auto& peer : transport_->peers())
    if (peer_ref ref{peer.slot, peer.incarnation}; peer.slot != transport_->slot() && peers_.alive(ref))
      groups_.peer_joined(ref);
  groups_.rejoined();
  names_.republish();
  return caf::none;
}

void bus_core::on_error(const transport::error& err) {
  log_.write("transport/" + std::to_string(static_cast<int>(err.code)), err.message);
}

// -- node's API -----------------------------------------------------------------

caf::expected<buffer_writer> bus_core::make_buffer(size_t size, buffer_fallback fallback) {
  if (!running())
    return stopped_error();
  if (!pool_) {
    if (fallback == buffer_fallback::heap)
      return buffer_writer::on_heap(size);
    return make_error(errc::pool_exhausted,
                      "bus '" + settings_.bus
                        + "' has no buffer pool: start its server with shmbus.pool-size > 0, "
                          "or ask for buffer_fallback::heap");
  }
  auto ref = pool_->allocate(size);
  if (!ref) {
    if (fallback == buffer_fallback::heap)
      return buffer_writer::on_heap(size);
    return from_transport(ref.err());
  }
  return buffer_writer{std::make_shared<buffer_storage>(pool_, *ref)};
}

transport::pool_usage bus_core::pool_usage() const {
  return pool_ ? pool_->usage() : transport::pool_usage{};
}

caf::error bus_core::publish(caf::strong_actor_ptr x, const std::string& name,
                             uint64_t interface) {
  if (!running())
    return stopped_error();
  return names_.publish(std::move(x), name, interface);
}

caf::error bus_core::unpublish(const std::string& name) {
  if (!running())
    return stopped_error();
  return names_.unpublish(name);
}

caf::expected<caf::actor> bus_core::lookup(const std::string& name, caf::timespan timeout,
                                           uint64_t interface) {
  if (!running())
    return stopped_error();
  if (!remote_.enabled())
    return names_.lookup(name, timeout, interface);
  // This machine first, then the others once, then this machine until the
  // deadline; "name@machine" asks that machine only.
  auto here = names_.lookup(name, caf::timespan{0}, interface);
  if (here || here.error() != errc::name_not_found)
    return here;
  if (auto at = name.rfind('@'); at != std::string::npos && at > 0) {
    auto base = name.substr(0, at);
    auto machine = name.substr(at + 1);
    if (machine == settings_.bus)
      return names_.lookup(base, timeout, interface);
    return as_relay(remote_.lookup(base, machine, interface, timeout));
  }
  if (auto far = remote_.lookup(name, {}, interface, caf::timespan{0}); far || far.error() != errc::name_not_found)
    return as_relay(std::move(far));
  return names_.lookup(name, timeout, interface);
}

caf::expected<caf::actor> bus_core::as_relay(caf::expected<caf::actor> x) {
  // BASP's own proxy may send a link's exit_msg a second time when the
  // remote actor's exit overtakes the linker (forwarding_actor_proxy keeps
  // its back link until the linker unlinks); the relay drops it.
  if (!x || !*x)
    return x;
  auto relay = proxies_.get_or_put(x->node(), x->id());
  if (!relay)
    return x;
  return caf::actor_cast<caf::actor>(std::move(relay));
}

caf::error bus_core::request_stop(int pid) {
  if (!running())
    return stopped_error();
  auto target = peers_.find_process(pid);
  if (!target)
    return make_error(errc::name_not_found, "no process with pid " + std::to_string(pid)
                                              + " is on bus '" + settings_.bus + "'");
  std::vector<char> buf;
  wire::start_record(buf, wire::kind::stop);
  return outbox_.send(*target, buf);
}

caf::expected<caf::actor> bus_core::spawn_service_of(int pid) {
  if (!running())
    return stopped_error();
  auto target = peers_.find_process(pid);
  auto nid = target ? peers_.node_of(*target) : caf::node_id{};
  if (!nid) {
    if (auto loss = peers_.loss_of(pid))
      return make_error(errc::peer_lost, "process " + std::to_string(pid) + " left bus '"
                                           + settings_.bus + "': " + loss->text);
    return make_error(errc::peer_lost, "no process with pid " + std::to_string(pid)
                                         + " is on bus '" + settings_.bus
                                         + "' (node::peers() lists the processes)");
  }
  // An ordinary proxy: requests to it are tracked and fail at once when the
  // process is lost, as requests to any of its actors.
  return caf::actor_cast<caf::actor>(proxies_.get_or_put(nid, spawn_service::well_known_id));
}

std::vector<group_view> bus_core::groups() const {
  if (!running())
    return {};
  return groups_.groups();
}

std::vector<peer_view> bus_core::peers() const {
  if (!running())
    return {};
  return peers_.peers();
}

} // namespace shmbus::bus
