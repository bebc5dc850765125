#include "bus_core.hpp"

#include <fstream>
#include <future>

#include <pthread.h>
#include <unistd.h>

#include <caf/exit_reason.hpp>
#include <caf/make_actor.hpp>

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
  opts.limits.supervision_entries = static_cast<uint32_t>(settings.supervision_entries);
  opts.limits.error_entries = static_cast<uint32_t>(settings.error_entries);
  opts.file_mode = *bus_settings::parse_file_mode(settings.file_mode);
  opts.timing.heartbeat_interval = settings.heartbeat_interval;
  opts.timing.heartbeat_timeout = settings.heartbeat_timeout;
  opts.full_inbox_timeout = settings.full_inbox_timeout;
  opts.attach_timeout = settings.attach_timeout;
  opts.wait_for_clients = settings.wait_for_clients;
  opts.idle = *transport::parse_idle_strategy(settings.idle_strategy);
  auto id = wire::to_bytes(self);
  opts.user_data.assign(id.begin(), id.end());
  return opts;
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
  for (auto& note : core->transport_->start_notes())
    core->log_.write_always(note);
  // Peers present now are known before start() returns, so that lookups
  // right after it resolve.
  for (auto& peer : core->transport_->peers())
    if (peer.slot != core->transport_->slot())
      core->peers_.remember(peer);
  core->names_.start();
  std::promise<void> running;
  auto ready = running.get_future();
  core->io_thread_ = std::thread([raw = core.get(), &running] {
    ::pthread_setname_np(::pthread_self(), "shmbus.io");
    raw->eu_.bind_to_this_thread();
    running.set_value();
    raw->io_loop();
  });
  ready.wait();
  return core;
}

bus_core::bus_core(caf::actor_system& sys, bus_settings settings,
                   std::unique_ptr<transport::node> transport)
  : sys_(sys),
    settings_(std::move(settings)),
    transport_(std::move(transport)),
    proxies_(sys, *this),
    eu_(sys, proxies_, settings_.dispatch == "inline"),
    log_(settings_.node_name, *transport_),
    peers_(*transport_),
    pending_(sys),
    codec_(sys, proxies_, eu_, peers_),
    outbox_(sys, *transport_, *this, eu_, peers_, pending_, log_,
            settings_.full_inbox_timeout),
    links_(sys, proxies_, eu_, peers_, codec_, outbox_),
    names_(sys, *transport_, peers_, proxies_, settings_, stopping_),
    stop_(settings_),
    forwarder_(sys, settings_, stopping_, peers_, pending_, codec_, outbox_, links_, log_) {
  // A client runs with the sizes and timing of the bus it joined, not with
  // its own (unused) defaults: the send path checks max_message_size.
  auto& limits = transport_->limits();
  settings_.inbox_size = limits.inbox_bytes;
  settings_.max_message_size = limits.max_message_bytes;
  settings_.node_slots = limits.node_slots;
  settings_.name_entries = limits.name_entries;
  settings_.supervision_entries = limits.supervision_entries;
  settings_.error_entries = limits.error_entries;
  settings_.heartbeat_interval = transport_->timing().heartbeat_interval;
  settings_.heartbeat_timeout = transport_->timing().heartbeat_timeout;
}

bus_core::~bus_core() {
  // stop() ran before (bus_module::stop() or node::stop()) and the actor
  // system may be gone: only the transport is left to release. The I/O
  // thread holds no reference, so this never runs on it.
  if (io_thread_.joinable()) {
    stopping_.store(true, std::memory_order_release);
    transport_->wake();
    io_thread_.join();
  }
}

void bus_core::stop() {
  if (eu_.on_io_thread()) {
    // An actor running on the I/O thread cannot wait for that thread to
    // end: refuse work at once, finish on a thread of its own.
    stopping_.store(true, std::memory_order_release);
    transport_->wake();
    std::thread([self = shared_from_this()] { self->stop_now(); }).detach();
    return;
  }
  stop_now();
}

void bus_core::stop_now() {
  std::lock_guard<std::mutex> guard(lifecycle_mtx_);
  if (stopped_)
    return;
  stopped_ = true;
  // 1. From now on the send path bounces; the I/O thread ends.
  stopping_.store(true, std::memory_order_release);
  peers_.close();
  transport_->wake();
  if (io_thread_.joinable())
    io_thread_.join();
  // 2. Waiting lookups fail; every proxy dies: local monitors and links of
  //    remote actors fire.
  names_.stop();
  proxies_.clear();
  // 3. Requests still waiting fail; records still queued are answered.
  pending_.fail(caf::node_id{}, 0);
  outbox_.drop_all(make_error(errc::not_attached, "the bus node stopped"));
  links_.clear();
  // 4. Peers see us leave (after our last record to each).
  transport_->leave();
  // 5. CAF keeps every local actor that was ever serialized in its registry
  //    with a strong reference; the actor system's destructor would wait for
  //    them forever. Nothing can reach them over the bus any more.
  auto last = sys_.latest_actor_id();
  for (caf::actor_id id = 1; id <= last; ++id)
    sys_.registry().erase(id);
  codec_.registry_released();
  stop_.stopped();
}

caf::error bus_core::stopped_error() const {
  return bus::stopped_error(settings_.node_name, settings_.bus);
}

// -- proxies ------------------------------------------------------------------

caf::strong_actor_ptr bus_core::make_proxy(caf::node_id nid, caf::actor_id aid) {
  // Runs under the proxy registry's lock: nothing here may call back into
  // the registry, and nothing may block (the WATCH never waits for room).
  if (!nid || aid == caf::invalid_actor_id)
    return nullptr;
  auto ref = running() ? peers_.route(nid) : std::nullopt;
  caf::actor_config cfg;
  auto proxy = caf::make_actor<shm_actor_proxy, caf::strong_actor_ptr>(
    aid, nid, &sys_, cfg, weak_from_this(), ref ? ref->slot : 0, ref ? ref->incarnation : 0);
  if (!ref) {
    // An actor of a process that is gone: born dead, so monitors get their
    // down_msg and requests fail at once.
    static_cast<shm_actor_proxy*>(proxy->get())
      ->kill_proxy(nullptr, caf::exit_reason::remote_link_unreachable);
    return proxy;
  }
  std::vector<char> buf;
  record_codec::control_record(buf, wire::kind::watch, aid);
  outbox_.send_control(*ref, buf);
  return proxy;
}

// -- the I/O thread -------------------------------------------------------------

void bus_core::io_loop() {
  auto poll = [this] { return transport_->poll(*this, outbox::io_batch); };
  while (running()) {
    auto n = eu_.handle_records(poll);
    n += eu_.run_ready(outbox::io_batch);
    outbox_.flush();
    if (n == 0 && !eu_.has_ready()) {
      auto wait = outbox_.has_queued() ? queued_recheck : idle_wait;
      eu_.handle_records([&] { return transport_->run_once(*this, wait, outbox::io_batch); });
    }
  }
  eu_.hand_over_all();
}

void bus_core::on_message(const transport::message_view& msg) {
  if (msg.size < 1)
    return;
  peer_ref from{msg.sender_slot, msg.sender_incarnation};
  auto* body = msg.data + 1;
  auto size = msg.size - 1;
  auto kind = static_cast<wire::kind>(msg.data[0]);
  auto malformed = [&](const char* what) {
    log_.write(std::string("malformed/") + what,
               std::string("a malformed ") + what + " record from node '"
                 + peers_.name_of(from.slot) + "' was dropped (" + std::to_string(msg.size)
                 + " bytes); is it running an incompatible shmbus build?");
  };
  switch (kind) {
    case wire::kind::message:
      if (!handle_message(from, body, size))
        malformed("message");
      return;
    case wire::kind::watch:
      if (auto aid = record_codec::read_watch(body, size))
        return links_.on_watch(from, *aid);
      return malformed("watch");
    case wire::kind::down:
      if (auto x = codec_.read_reason(body, size))
        return links_.on_down(from, *x);
      return malformed("down");
    case wire::kind::link:
    case wire::kind::unlink:
      if (auto ids = record_codec::read_link(body, size))
        return links_.on_link(from, ids->first, ids->second, kind == wire::kind::link);
      return malformed("link");
    case wire::kind::exit:
      if (auto x = codec_.read_exit(body, size))
        return links_.on_exit(*x);
      return malformed("exit");
    case wire::kind::stop:
      stop_.requested(peers_.name_of(from.slot));
      return;
  }
  malformed("unknown");
}

bool bus_core::handle_message(peer_ref from, const std::byte* data, size_t size) {
  record_codec::message_head head;
  if (!codec_.read_message_head(from, data, size, head))
    return false;
  if (head.mid.is_response() && !pending_.take(head.receiver, head.mid))
    return true; // answered already: the request failed when its receiver was lost
  auto dest = links_.find_local(head.receiver);
  if (!dest) {
    if (head.mid.is_request())
      answer_with_error(head.sender, head.mid, caf::sec::request_receiver_down);
    return true; // as in-process: a message to a terminated actor is dropped
  }
  std::vector<caf::strong_actor_ptr> stages;
  caf::message content;
  if (auto err = codec_.read_content(data, size, head, stages, content)) {
    auto why = from_deserializer(sys_, err, settings_.node_name, head.receiver);
    if (head.mid.is_request())
      answer_with_error(head.sender, head.mid, why);
    else
      log_.write("load/" + std::to_string(err.code()), sys_.render(why));
    return true;
  }
  dest->enqueue(caf::make_mailbox_element(std::move(head.sender), head.mid, std::move(stages),
                                          std::move(content)),
                &eu_);
  return true;
}

void bus_core::on_peer_joined(const transport::peer_info& peer) {
  codec_.forget_peer(peer.slot);
  peers_.remember(peer);
}

void bus_core::on_peer_lost(const transport::peer_loss& loss) {
  auto slot = loss.peer.slot;
  auto text = loss.describe();
  if (slot == transport_->slot()) {
    stop_.server_lost("this node was declared lost by its peers (" + text + ")");
    return;
  }
  // A goodbye is routine; a process that died or hung is news.
  auto severity = loss.cause == transport::loss_cause::left ? log::level::debug
                                                            : log::level::info;
  log::write(severity, "bus", "peer_lost", text,
             {{"node", settings_.node_name},
              {"peer", loss.peer.name},
              {"pid", std::to_string(loss.peer.pid)},
              {"cause", transport::to_string(loss.cause)}});
  auto nid = peers_.forget(loss);
  outbox_.drop(slot, caf::sec::request_receiver_down);
  codec_.forget_peer(slot);
  if (nid) {
    // Every proxy dies with remote_link_unreachable (its pending requests
    // fail first, see shm_actor_proxy::kill_proxy); requests to actors we
    // had no proxy for fail too.
    proxies_.erase(nid);
    pending_.fail(nid, 0);
  }
  if (loss.peer.role == transport::node_role::server
      && role_of(settings_.role) == transport::node_role::client)
    stop_.server_lost(text);
}

void bus_core::on_error(const transport::error& err) {
  log_.write("transport/" + std::to_string(static_cast<int>(err.code)), err.message);
}

// -- node's API -----------------------------------------------------------------

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
  return names_.lookup(name, timeout, interface);
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

std::vector<peer_view> bus_core::peers() const {
  if (!running())
    return {};
  return peers_.peers();
}

} // namespace shmbus::bus
