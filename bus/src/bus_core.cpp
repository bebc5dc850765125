#include "bus_core.hpp"

#include <csignal>
#include <cstdio>
#include <cxxabi.h>
#include <fstream>
#include <future>
#include <unordered_set>

#include <pthread.h>
#include <unistd.h>

#include <caf/actor_clock.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/detail/sync_request_bouncer.hpp>
#include <caf/exit_reason.hpp>
#include <caf/make_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "shm_actor_proxy.hpp"

namespace shmbus::bus {

namespace {

using namespace std::chrono_literals;

/// Largest number of records the I/O thread takes per poll, and of woken
/// actors it runs per round, before it looks at the other again.
constexpr size_t io_batch = 256;

/// Cap on records the I/O thread holds for full inboxes, per destination.
constexpr size_t max_deferred_per_peer = 65536;

transport::node_role role_of(const std::string& x) {
  return x == "server" ? transport::node_role::server : transport::node_role::client;
}

std::string program_name() {
  std::ifstream comm{"/proc/self/comm"};
  std::string name;
  std::getline(comm, name);
  return name.empty() ? "shmbus" : name;
}

caf::error from_transport(const transport::error& err) {
  using transport::errc;
  auto code = bus::errc::peer_lost;
  switch (err.code) {
    case errc::invalid_bus_name: code = bus::errc::invalid_bus_name; break;
    case errc::bus_not_found: code = bus::errc::bus_not_found; break;
    case errc::layout_mismatch: code = bus::errc::layout_mismatch; break;
    case errc::server_running: code = bus::errc::server_running; break;
    case errc::clients_alive: code = bus::errc::clients_alive; break;
    case errc::bus_full: code = bus::errc::bus_full; break;
    case errc::not_attached: code = bus::errc::not_attached; break;
    case errc::message_too_large: code = bus::errc::message_too_large; break;
    case errc::inbox_full: code = bus::errc::inbox_full; break;
    case errc::peer_lost: code = bus::errc::peer_lost; break;
    case errc::corrupt_record: code = bus::errc::corrupt_record; break;
    case errc::name_not_found: code = bus::errc::name_not_found; break;
    case errc::name_in_use: code = bus::errc::name_in_use; break;
    case errc::name_table_full: code = bus::errc::name_table_full; break;
    case errc::invalid_argument:
    case errc::timeout:
    case errc::bus_in_use:
    case errc::system_error:
    case errc::ok:
      return caf::make_error(caf::sec::runtime_error, err.message);
  }
  return make_error(code, err.message);
}

/// "(int32_t, my_type)": the element types of `msg`, by their registered
/// names where they have one, for error messages.
std::string type_names(const caf::actor_system& sys, const caf::message& msg) {
  std::string result = "(";
  for (size_t i = 0; i < msg.size(); ++i) {
    if (i > 0)
      result += ", ";
    auto rtti = msg.type(i);
    auto& portable = sys.types().portable_name(rtti);
    if (portable != sys.types().default_type_name() || rtti.second == nullptr) {
      result += portable;
      continue;
    }
    int status = 0;
    char* demangled = abi::__cxa_demangle(rtti.second->name(), nullptr, nullptr, &status);
    result += status == 0 && demangled ? demangled : rtti.second->name();
    std::free(demangled);
  }
  return result + ")";
}

/// Answers a request with `err`, exactly as CAF's sync_request_bouncer does.
void answer_with_error(const caf::strong_actor_ptr& requester, caf::message_id mid,
                       caf::error err) {
  if (requester && mid.is_request())
    requester->enqueue(nullptr, mid.response_id(), caf::make_message(std::move(err)),
                       nullptr);
}

} // namespace

// -- construction -------------------------------------------------------------

bus_core::bus_core(caf::actor_system& sys, bus_settings settings)
  : sys_(sys),
    settings_(std::move(settings)),
    proxies_(sys, *this),
    eu_(sys, proxies_, settings_.dispatch == "inline") {
  if (settings_.node_name.empty())
    settings_.node_name = program_name() + "-" + std::to_string(::getpid());
}

bus_core::~bus_core() {
  stop();
}

caf::error bus_core::start() {
  if (auto err = settings_.validate())
    return err;
  if (!sys_.node())
    return caf::make_error(caf::sec::invalid_argument,
                           "the actor system has no node id: load caf::io::middleman "
                           "(shmbus::bus::config does) before starting a bus node");
  transport::node_options opts;
  opts.bus = settings_.bus;
  opts.role = role_of(settings_.role);
  opts.name = settings_.node_name;
  opts.limits.node_slots = static_cast<uint32_t>(settings_.node_slots);
  opts.limits.inbox_bytes = static_cast<uint32_t>(settings_.inbox_size);
  opts.limits.max_message_bytes = static_cast<uint32_t>(settings_.max_message_size);
  opts.limits.name_entries = static_cast<uint32_t>(settings_.name_entries);
  opts.timing.heartbeat_interval = settings_.heartbeat_interval;
  opts.timing.heartbeat_timeout = settings_.heartbeat_timeout;
  opts.full_inbox_timeout = settings_.full_inbox_timeout;
  opts.attach_timeout = settings_.attach_timeout;
  opts.wait_for_clients = settings_.wait_for_clients;
  opts.idle = *transport::parse_idle_strategy(settings_.idle_strategy);
  auto id = wire::to_bytes(sys_.node());
  opts.user_data.assign(id.begin(), id.end());
  auto started = transport::node::start(std::move(opts));
  if (!started)
    return from_transport(started.err());
  transport_ = std::move(*started);
  // A client runs with the sizes and timing of the bus it joined, not with
  // its own (unused) defaults: the send path checks max_message_size.
  auto& limits = transport_->limits();
  settings_.inbox_size = limits.inbox_bytes;
  settings_.max_message_size = limits.max_message_bytes;
  settings_.node_slots = limits.node_slots;
  settings_.name_entries = limits.name_entries;
  settings_.heartbeat_interval = transport_->timing().heartbeat_interval;
  settings_.heartbeat_timeout = transport_->timing().heartbeat_timeout;
  for (auto& note : transport_->start_notes())
    std::fprintf(stderr, "shmbus[%s]: %s\n", settings_.node_name.c_str(), note.c_str());
  auto slots = transport_->limits().node_slots;
  by_slot_.resize(slots);
  slot_alive_.reset(new std::atomic<uint64_t>[slots]);
  has_deferred_.reset(new std::atomic<bool>[slots]);
  for (uint32_t i = 0; i < slots; ++i) {
    slot_alive_[i].store(0, std::memory_order_relaxed);
    has_deferred_[i].store(false, std::memory_order_relaxed);
  }
  deferred_.resize(slots);
  sender_cache_.resize(slots);
  // Peers present now are known before start() returns, so that lookups
  // right after it resolve.
  for (auto& peer : transport_->peers())
    if (peer.slot != transport_->slot())
      remember(peer);
  std::promise<void> running;
  auto ready = running.get_future();
  io_thread_ = std::thread([this, &running] {
    ::pthread_setname_np(::pthread_self(), "shmbus.io");
    io_thread_id_ = std::this_thread::get_id();
    eu_.bind_to_this_thread();
    running.set_value();
    io_loop();
  });
  ready.wait();
  return caf::none;
}

void bus_core::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  if (!transport_)
    return;
  // 1. From now on the send path bounces; the I/O thread ends.
  stopping_ = true;
  for (uint32_t i = 0; i < by_slot_.size(); ++i)
    slot_alive_[i].store(0, std::memory_order_release);
  transport_->wake();
  if (io_thread_.joinable())
    io_thread_.join();
  // 2. Every proxy dies: local monitors and links of remote actors fire.
  proxies_.clear();
  // 3. Requests still waiting fail; records still waiting are answered.
  fail_pending(caf::node_id{}, 0);
  for (uint32_t i = 0; i < deferred_.size(); ++i)
    drop_deferred(i, make_error(errc::not_attached, "the bus node stopped"));
  {
    std::unordered_map<caf::actor_id, caf::strong_actor_ptr> exports;
    std::lock_guard<std::mutex> guard(exports_mtx_);
    exports.swap(exports_);
    watchers_.clear();
    published_.clear();
  }
  // 4. Peers see us leave (after our last record to each).
  transport_->leave();
  // 5. CAF keeps every local actor that was ever serialized in its registry
  //    with a strong reference; the actor system's destructor would wait for
  //    them forever. Nothing can reach them over the bus any more.
  auto last = sys_.latest_actor_id();
  for (caf::actor_id id = 1; id <= last; ++id)
    sys_.registry().erase(id);
  registry_epoch_.fetch_add(1, std::memory_order_release);
  for (auto& cache : sender_cache_)
    cache.clear();
  std::lock_guard<std::mutex> guard(stop_mtx_);
  if (!stop_reason_)
    stop_reason_ = {stop_cause::stopped, "node stopped"};
  stop_cv_.notify_all();
}

// -- peers ------------------------------------------------------------------

void bus_core::remember(const transport::peer_info& peer) {
  peer_entry entry;
  entry.ref = {peer.slot, peer.incarnation};
  entry.node = wire::from_bytes(peer.user_data.data());
  entry.name = peer.name;
  entry.pid = peer.pid;
  entry.server = peer.role == transport::node_role::server;
  if (!entry.node)
    return; // not a CAF node (e.g. a transport-only tool)
  {
    std::lock_guard<std::mutex> guard(peers_mtx_);
    auto& old = by_slot_[peer.slot];
    if (old.node && old.ref.incarnation != peer.incarnation)
      peers_.erase(old.node);
    peers_[entry.node] = entry;
    nodes_by_ref_[key_of(entry.ref)] = entry.node;
    old = entry;
  }
  slot_alive_[peer.slot].store((uint64_t{peer.incarnation} << 1) | 1,
                               std::memory_order_release);
  transport_->watch(peer.slot, peer.incarnation);
}

std::optional<bus_core::peer_ref> bus_core::route(const caf::node_id& nid) {
  {
    std::lock_guard<std::mutex> guard(peers_mtx_);
    auto i = peers_.find(nid);
    if (i != peers_.end())
      return alive(i->second.ref) ? std::optional<peer_ref>{i->second.ref}
                                  : std::nullopt;
  }
  // Not announced to the I/O thread yet: the node table is the truth.
  auto wanted = wire::to_bytes(nid);
  for (auto& peer : transport_->peers()) {
    if (std::equal(wanted.begin(), wanted.end(), peer.user_data.begin())
        && peer.slot != transport_->slot()) {
      remember(peer);
      return peer_ref{peer.slot, peer.incarnation};
    }
  }
  return std::nullopt;
}

caf::node_id bus_core::node_of(peer_ref ref) {
  {
    std::lock_guard<std::mutex> guard(peers_mtx_);
    auto i = nodes_by_ref_.find(key_of(ref));
    if (i != nodes_by_ref_.end())
      return i->second;
  }
  // Not announced yet: the node table knows it if it is still this
  // incarnation there.
  if (auto peer = transport_->peer(ref.slot); peer && peer->incarnation == ref.incarnation) {
    remember(*peer);
    return wire::from_bytes(peer->user_data.data());
  }
  return caf::node_id{};
}

std::string bus_core::name_of(uint32_t slot) const {
  std::lock_guard<std::mutex> guard(peers_mtx_);
  return slot < by_slot_.size() ? by_slot_[slot].name : std::string{"?"};
}

bool bus_core::alive(peer_ref ref) const noexcept {
  return ref.slot < by_slot_.size()
         && slot_alive_[ref.slot].load(std::memory_order_acquire)
              == ((uint64_t{ref.incarnation} << 1) | 1);
}

std::vector<peer_view> bus_core::peers() const {
  std::vector<peer_view> result;
  std::lock_guard<std::mutex> guard(peers_mtx_);
  for (auto& [nid, entry] : peers_)
    if (alive(entry.ref))
      result.push_back({entry.name, entry.pid, nid, entry.server});
  return result;
}

std::optional<loss_report> bus_core::loss_of(int pid) const {
  std::lock_guard<std::mutex> guard(peers_mtx_);
  auto i = losses_.find(pid);
  if (i == losses_.end())
    return std::nullopt;
  return i->second;
}

// -- proxies ------------------------------------------------------------------

caf::strong_actor_ptr bus_core::make_proxy(caf::node_id nid, caf::actor_id aid) {
  // Runs under the proxy registry's lock: nothing here may call back into
  // the registry, and nothing may block (the WATCH never waits for room).
  if (!nid || aid == caf::invalid_actor_id)
    return nullptr;
  auto ref = stopping_ ? std::nullopt : route(nid);
  caf::actor_config cfg;
  auto proxy = caf::make_actor<shm_actor_proxy, caf::strong_actor_ptr>(
    aid, nid, &sys_, cfg, weak_from_this(), ref ? ref->slot : 0,
    ref ? ref->incarnation : 0);
  if (!ref) {
    // An actor of a process that is gone: born dead, so monitors get their
    // down_msg and requests fail at once.
    static_cast<shm_actor_proxy*>(proxy->get())
      ->kill_proxy(nullptr, caf::exit_reason::remote_link_unreachable);
    return proxy;
  }
  send_control(*ref, wire::kind::watch, aid, 0, false);
  return proxy;
}

void bus_core::bounce(const caf::mailbox_element& what, caf::error err) {
  answer_with_error(what.sender, what.mid, std::move(err));
}

void bus_core::forward(shm_actor_proxy& proxy, caf::mailbox_element_ptr what,
                       caf::execution_unit*) {
  peer_ref to{proxy.slot(), proxy.incarnation()};
  auto mid = what->mid;
  if (stopping_ || !alive(to) || proxy.getf(caf::abstract_actor::is_terminated_flag)) {
    bounce(*what, caf::sec::request_receiver_down);
    return;
  }
  if (what->content().match_elements<caf::exit_msg>()) {
    auto& em = what->content().get_as<caf::exit_msg>(0);
    auto& sender = what->sender;
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
    wire::start_record(buf, wire::kind::exit);
    wire::put_u64(buf, proxy.id());
    wire::put_u64(buf, em.source.id());
    auto source_node = wire::to_bytes(em.source.node());
    buf.insert(buf.end(), reinterpret_cast<const char*>(source_node.data()),
               reinterpret_cast<const char*>(source_node.data()) + source_node.size());
    {
      caf::binary_serializer sink{sys_, buf};
      auto reason = em.reason;
      sink(reason);
    }
    send_record(to, buf, !on_io_thread());
    return;
  }
  // An ordinary message: one serialization, straight into a record.
  thread_local std::vector<char> buf;
  wire::start_record(buf, wire::kind::message);
  wire::put_u64(buf, proxy.id());
  wire::put_u64(buf, mid.integer_value());
  encode_sender(buf, what->sender);
  buf.push_back(what->stages.empty() ? 0 : 1);
  auto msg = what->move_content_to_message();
  caf::error err;
  {
    // A fresh serializer per record (reusing one after clearing its buffer
    // writes past the end). sink(msg) would swallow an unregistered type:
    // msg.save reports it.
    caf::binary_serializer sink{sys_, buf};
    if (!what->stages.empty())
      err = sink(what->stages);
    if (!err)
      err = msg.save(sink);
  }
  auto receiver_text = [&] {
    return "actor " + std::to_string(proxy.id()) + " of node '" + name_of(to.slot) + "'";
  };
  // Content that cannot cross. A response is replaced by the error, so that
  // its requester learns why instead of waiting for its timeout.
  auto refuse = [&](caf::error why) {
    report_send_failure(*what, why, receiver_text());
    if (mid.is_response() && !msg.match_elements<caf::error>())
      proxy.enqueue(caf::make_mailbox_element(what->sender, mid, {},
                                              caf::make_message(std::move(why))),
                    nullptr);
  };
  if (err) {
    refuse(to_bus_error(err, msg));
    return;
  }
  if (buf.size() > settings_.max_message_size) {
    refuse(make_error(errc::message_too_large,
                      "message " + type_names(sys_, msg) + " of "
                        + std::to_string(buf.size()) + " bytes exceeds shmbus.max-message-size ("
                        + std::to_string(settings_.max_message_size)
                        + " bytes); send less or raise the server's max-message-size"));
    return;
  }
  // Record the request before writing: the answer may arrive first.
  bool track = mid.is_request() && what->sender && what->sender->node() == sys_.node();
  if (track)
    add_pending(what->sender, mid, proxy.node(), proxy.id());
  auto sent = send_record(to, buf, !on_io_thread(), what->sender, mid);
  if (sent) {
    if (track)
      take_pending(what->sender->id(), mid);
    report_send_failure(*what, sent, receiver_text());
    return;
  }
  // The peer may have died between our check and add_pending: whoever
  // removes the entry answers it, so each request is answered once.
  if (track && (!alive(to) || proxy.getf(caf::abstract_actor::is_terminated_flag))
      && take_pending(what->sender->id(), mid))
    answer_with_error(what->sender, mid, caf::sec::request_receiver_down);
}

caf::error bus_core::to_bus_error(const caf::error& err, const caf::message& msg) const {
  if (err == caf::sec::unknown_type)
    return make_error(errc::unregistered_type,
                      "message " + type_names(sys_, msg)
                        + " holds a type that is not registered ("
                        + sys_.render(err)
                        + "); register it with add_message_type in every process");
  return err;
}

void bus_core::report_send_failure(const caf::mailbox_element& what,
                                   const caf::error& err, const std::string& receiver) {
  undelivered_.fetch_add(1, std::memory_order_relaxed);
  if (what.mid.is_request()) {
    answer_with_error(what.sender, what.mid, err);
    return;
  }
  auto sender = what.sender ? std::to_string(what.sender->id()) : std::string{"anonymous"};
  log_once(std::to_string(err.code()) + "/" + caf::to_string(err.category()) + "/" + receiver,
           "a message from actor " + sender + " to " + receiver
             + " was not delivered: " + sys_.render(err)
             + " (further failures of this kind are not logged)");
}

void bus_core::send_link(shm_actor_proxy& proxy, caf::abstract_actor* linker, bool link) {
  // Runs under the locks of the proxy and `linker`: plain map insert and a
  // non-blocking write only.
  peer_ref to{proxy.slot(), proxy.incarnation()};
  if (!alive(to))
    return;
  if (link) {
    // The other side will ask about `linker` (WATCH) even if it was never
    // serialized: keep it findable.
    std::lock_guard<std::mutex> guard(exports_mtx_);
    exports_.emplace(linker->id(), caf::strong_actor_ptr{linker->ctrl()});
  }
  send_control(to, link ? wire::kind::link : wire::kind::unlink, proxy.id(),
               linker->id(), true);
}

// -- sending ------------------------------------------------------------------

bool bus_core::on_io_thread() const noexcept {
  return std::this_thread::get_id() == io_thread_id_;
}

caf::error bus_core::send_record(peer_ref to, const std::vector<char>& bytes,
                                 bool may_block, const caf::strong_actor_ptr& requester,
                                 caf::message_id mid) {
  auto defer = [&] {
    std::lock_guard<std::mutex> guard(deferred_mtx_);
    auto& queue = deferred_[to.slot];
    if (queue.size() >= max_deferred_per_peer)
      return make_error(errc::inbox_full,
                        "the inbox of node '" + name_of(to.slot)
                          + "' is full and " + std::to_string(queue.size())
                          + " more records wait for it");
    queue.push_back({to, bytes, requester, mid, std::chrono::steady_clock::now()});
    has_deferred_[to.slot].store(true, std::memory_order_release);
    deferred_count_.fetch_add(1, std::memory_order_relaxed);
    transport_->wake();
    return caf::error{};
  };
  // Records for a destination that has a backlog queue up behind it: the
  // order of each sender's messages holds.
  if (has_deferred_[to.slot].load(std::memory_order_acquire))
    return defer();
  auto err = transport_->send(to.slot, to.incarnation, bytes.data(), bytes.size(),
                              may_block ? transport::node::default_wait
                                        : std::chrono::nanoseconds::zero());
  if (err.code == transport::errc::inbox_full && !may_block && on_io_thread()
      && !in_poll_) {
    // An actor running on the I/O thread meets a full inbox. Waiting here
    // while draining our own inbox keeps backpressure without the deadlock
    // of two I/O threads each waiting for the other to read.
    auto until = std::chrono::steady_clock::now() + settings_.full_inbox_timeout;
    do {
      drain_own_inbox();
      err = transport_->send(to.slot, to.incarnation, bytes.data(), bytes.size(),
                             std::chrono::nanoseconds::zero());
    } while (err.code == transport::errc::inbox_full
             && std::chrono::steady_clock::now() < until);
  }
  if (!err)
    return caf::error{};
  if (err.code == transport::errc::inbox_full && !may_block && in_poll_)
    return defer(); // inside a record handler: no nested poll
  return from_transport(err);
}

void bus_core::drain_own_inbox() {
  in_poll_ = true;
  auto n = transport_->poll(*this, io_batch);
  in_poll_ = false;
  if (n == 0)
    std::this_thread::yield();
}

void bus_core::send_control(peer_ref to, wire::kind k, uint64_t a, uint64_t b,
                            bool with_b) {
  std::vector<char> buf;
  wire::start_record(buf, k);
  wire::put_u64(buf, a);
  if (with_b)
    wire::put_u64(buf, b);
  // Control records are sent under CAF locks or by the I/O thread: they
  // never wait for room.
  send_record(to, buf, false);
}

void bus_core::send_reason(peer_ref to, wire::kind k, uint64_t aid,
                           const caf::error& reason) {
  std::vector<char> buf;
  wire::start_record(buf, k);
  wire::put_u64(buf, aid);
  {
    caf::binary_serializer sink{sys_, buf};
    auto copy = reason;
    sink(copy);
  }
  send_record(to, buf, !on_io_thread());
}

void bus_core::flush_deferred() {
  if (deferred_count_.load(std::memory_order_relaxed) == 0)
    return;
  auto now = std::chrono::steady_clock::now();
  for (uint32_t slot = 0; slot < deferred_.size(); ++slot) {
    if (!has_deferred_[slot].load(std::memory_order_acquire))
      continue;
    std::vector<deferred_record> failed;
    caf::error failure;
    {
      std::lock_guard<std::mutex> guard(deferred_mtx_);
      auto& queue = deferred_[slot];
      while (!queue.empty()) {
        auto& rec = queue.front();
        auto err = transport_->send(rec.to.slot, rec.to.incarnation, rec.bytes.data(),
                                    rec.bytes.size(), std::chrono::nanoseconds::zero());
        if (err.code == transport::errc::inbox_full
            && now - rec.since < settings_.full_inbox_timeout)
          break; // still full: keep the order, retry next round
        if (err) {
          failure = from_transport(err);
          failed.push_back(std::move(rec));
        }
        queue.pop_front();
        deferred_count_.fetch_sub(1, std::memory_order_relaxed);
      }
      if (queue.empty())
        has_deferred_[slot].store(false, std::memory_order_release);
    }
    for (auto& rec : failed) {
      if (rec.requester && rec.mid.is_request()) {
        take_pending(rec.requester->id(), rec.mid);
        answer_with_error(rec.requester, rec.mid, failure);
      } else {
        log_once("deferred/" + std::to_string(slot),
                 "records for node '" + name_of(slot)
                   + "' were dropped: " + sys_.render(failure));
      }
    }
  }
}

void bus_core::drop_deferred(uint32_t slot, const caf::error& why) {
  std::deque<deferred_record> dropped;
  {
    std::lock_guard<std::mutex> guard(deferred_mtx_);
    dropped.swap(deferred_[slot]);
    has_deferred_[slot].store(false, std::memory_order_release);
    deferred_count_.fetch_sub(dropped.size(), std::memory_order_relaxed);
  }
  for (auto& rec : dropped)
    if (rec.requester && rec.mid.is_request() && take_pending(rec.requester->id(), rec.mid))
      answer_with_error(rec.requester, rec.mid, why);
}

// -- pending requests ---------------------------------------------------------

void bus_core::add_pending(const caf::strong_actor_ptr& requester, caf::message_id mid,
                           const caf::node_id& nid, caf::actor_id aid) {
  std::lock_guard<std::mutex> guard(pending_mtx_);
  pending_[{requester->id(), mid.request_id().integer_value()}]
    = pending_request{caf::actor_cast<caf::weak_actor_ptr>(requester), mid, nid, aid};
  // Requests that are never answered (their requester timed out and the
  // receiver ignores them) would pile up: drop those of dead requesters.
  if (++pending_since_sweep_ >= 4096) {
    pending_since_sweep_ = 0;
    for (auto i = pending_.begin(); i != pending_.end();)
      i = i->second.requester.lock() ? std::next(i) : pending_.erase(i);
  }
}

bool bus_core::take_pending(caf::actor_id requester, caf::message_id mid) {
  std::lock_guard<std::mutex> guard(pending_mtx_);
  return pending_.erase({requester, mid.request_id().integer_value()}) > 0;
}

void bus_core::fail_pending(const caf::node_id& nid, caf::actor_id aid) {
  std::vector<pending_request> failed;
  {
    std::lock_guard<std::mutex> guard(pending_mtx_);
    for (auto i = pending_.begin(); i != pending_.end();) {
      if ((!nid || i->second.node == nid) && (aid == 0 || i->second.target == aid)) {
        failed.push_back(std::move(i->second));
        i = pending_.erase(i);
      } else {
        ++i;
      }
    }
  }
  for (auto& req : failed) {
    if (auto requester = req.requester.lock()) {
      answer_with_error(requester, req.mid, caf::sec::request_receiver_down);
      // CAF 0.17 keeps a strong reference to the requester until the
      // request's timeout fires, answered or not: a lost peer or a stopped
      // node would keep the requester, and the actor system's shutdown,
      // waiting for up to the whole timeout.
      sys_.clock().cancel_request_timeout(requester->get(), req.mid.response_id());
    }
  }
}

// -- receiving ------------------------------------------------------------------

void bus_core::io_loop() {
  while (!stopping_.load(std::memory_order_acquire)) {
    in_poll_ = true;
    auto n = transport_->poll(*this, io_batch);
    in_poll_ = false;
    n += eu_.run_ready(io_batch);
    flush_deferred();
    if (n == 0 && !eu_.has_ready()) {
      // With a backlog for a full inbox, look again soon: nobody wakes us
      // when that inbox drains.
      auto wait = deferred_count_.load(std::memory_order_relaxed) > 0
                    ? std::chrono::nanoseconds{200us}
                    : std::chrono::nanoseconds{100ms};
      in_poll_ = true;
      transport_->run_once(*this, wait, io_batch);
      in_poll_ = false;
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
  auto malformed = [&](const char* what) {
    log_once(std::string("malformed/") + what,
             std::string("a malformed ") + what + " record from node '"
               + name_of(from.slot) + "' was dropped (" + std::to_string(msg.size)
               + " bytes); is it running an incompatible shmbus build?");
  };
  switch (static_cast<wire::kind>(msg.data[0])) {
    case wire::kind::message:
      if (size < 16)
        return malformed("message");
      handle_message(from, body, size);
      return;
    case wire::kind::watch:
      if (size < 8)
        return malformed("watch");
      handle_watch(from, wire::get_u64(body));
      return;
    case wire::kind::down: {
      if (size < 8)
        return malformed("down");
      caf::error reason;
      caf::binary_deserializer source{&eu_, reinterpret_cast<const char*>(body + 8), size - 8};
      if (source(reason))
        reason = caf::exit_reason::unknown;
      // Calls our kill_proxy(nullptr, reason) outside the registry's lock.
      sender_cache_[from.slot].erase(wire::get_u64(body));
      proxies_.erase(node_of(from), wire::get_u64(body), std::move(reason));
      return;
    }
    case wire::kind::link:
    case wire::kind::unlink:
      if (size < 16)
        return malformed("link");
      handle_link(from, wire::get_u64(body), wire::get_u64(body + 8),
                  static_cast<wire::kind>(msg.data[0]) == wire::kind::link);
      return;
    case wire::kind::exit:
      if (size < 16 + wire::node_id_bytes)
        return malformed("exit");
      handle_exit(body, size);
      return;
    case wire::kind::stop: {
      std::lock_guard<std::mutex> guard(stop_mtx_);
      stop_reason_ = {stop_cause::requested,
                      "stop requested by node '" + name_of(from.slot) + "'"};
      stop_cv_.notify_all();
      return;
    }
  }
  malformed("unknown");
}

void bus_core::encode_sender(std::vector<char>& buf, const caf::strong_actor_ptr& sender) {
  // CAF's own form (actor id + 32-byte node id through the inspector) costs
  // ~0.5 us to write and ~0.4 us to read; the sender is nearly always an
  // actor of the sending process, which the receiver knows from the slot.
  if (!sender) {
    buf.push_back(static_cast<char>(wire::sender_tag::none));
    return;
  }
  if (sender->node() == sys_.node()) {
    buf.push_back(static_cast<char>(wire::sender_tag::local));
    wire::put_u64(buf, sender->id());
    // The answer must find it: CAF's serializer would put it into the
    // registry (and so do we, once per actor and thread).
    thread_local const void* cache_owner = nullptr;
    thread_local uint64_t cache_epoch = 0;
    thread_local std::unordered_set<caf::actor_id> registered;
    auto epoch = registry_epoch_.load(std::memory_order_acquire);
    if (cache_owner != this || cache_epoch != epoch || registered.size() > 4096) {
      registered.clear();
      cache_owner = this;
      cache_epoch = epoch;
    }
    if (registered.insert(sender->id()).second)
      sys_.registry().put(sender->id(), sender);
    return;
  }
  buf.push_back(static_cast<char>(wire::sender_tag::remote));
  wire::put_u64(buf, sender->id());
  auto node = wire::to_bytes(sender->node());
  buf.insert(buf.end(), reinterpret_cast<const char*>(node.data()),
             reinterpret_cast<const char*>(node.data()) + node.size());
}

bool bus_core::decode_sender(peer_ref from, const std::byte* data, size_t size,
                             size_t& offset, caf::strong_actor_ptr& sender) {
  if (offset >= size)
    return false;
  auto tag = static_cast<wire::sender_tag>(data[offset++]);
  if (tag == wire::sender_tag::none)
    return true;
  if (offset + 8 > size)
    return false;
  auto aid = wire::get_u64(data + offset);
  offset += 8;
  if (tag == wire::sender_tag::local) {
    auto& cache = sender_cache_[from.slot];
    auto i = cache.find(aid);
    if (i != cache.end()) {
      sender = i->second;
      return true;
    }
    auto nid = node_of(from);
    if (!nid)
      return false;
    sender = proxies_.get_or_put(nid, aid);
    if (cache.size() > 4096)
      cache.clear();
    cache.emplace(aid, sender);
    return true;
  }
  if (tag != wire::sender_tag::remote || offset + wire::node_id_bytes > size)
    return false;
  auto nid = wire::from_bytes(data + offset);
  offset += wire::node_id_bytes;
  sender = nid == sys_.node() ? sys_.registry().get(aid) : proxies_.get_or_put(nid, aid);
  return true;
}

void bus_core::handle_message(peer_ref from, const std::byte* data, size_t size) {
  auto receiver = wire::get_u64(data);
  caf::message_id mid{wire::get_u64(data + 8)};
  size_t offset = 16;
  caf::strong_actor_ptr sender;
  if (!decode_sender(from, data, size, offset, sender) || offset >= size) {
    log_once("sender", "a message from node '" + name_of(from.slot)
                         + "' with an unreadable sender was dropped");
    return;
  }
  bool has_stages = data[offset++] != std::byte{0};
  // The unit makes handles inside the message proxies of our registry.
  caf::binary_deserializer source{&eu_, reinterpret_cast<const char*>(data + offset),
                                  size - offset};
  if (mid.is_response() && !take_pending(receiver, mid))
    return; // answered already: the request failed when its receiver was lost
  auto dest = find_local(receiver);
  if (!dest) {
    if (mid.is_request())
      answer_with_error(sender, mid, caf::sec::request_receiver_down);
    return; // as in-process: a message to a terminated actor is dropped
  }
  std::vector<caf::strong_actor_ptr> stages;
  caf::message content;
  caf::error err;
  if (has_stages)
    err = source(stages);
  if (!err)
    err = content.load(source);
  if (err) {
    auto why = err == caf::sec::unknown_type
                 ? make_error(errc::unregistered_type,
                              "node '" + settings_.node_name
                                + "' cannot read a message for actor "
                                + std::to_string(receiver) + ": " + sys_.render(err)
                                + "; register the type with add_message_type in every process")
                 : make_error(errc::deserialization_failed,
                              "node '" + settings_.node_name + "' cannot read a message for actor "
                                + std::to_string(receiver) + ": " + sys_.render(err));
    if (mid.is_request())
      answer_with_error(sender, mid, why);
    else
      log_once("load/" + std::to_string(err.code()), sys_.render(why));
    return;
  }
  dest->enqueue(caf::make_mailbox_element(std::move(sender), mid, std::move(stages),
                                          std::move(content)),
                &eu_);
}

caf::strong_actor_ptr bus_core::find_local(caf::actor_id aid) {
  if (auto x = sys_.registry().get(aid))
    return x;
  std::lock_guard<std::mutex> guard(exports_mtx_);
  auto i = exports_.find(aid);
  return i != exports_.end() ? i->second : nullptr;
}

void bus_core::handle_watch(peer_ref from, caf::actor_id aid) {
  auto actor = find_local(aid);
  if (!actor) {
    // Gone before anyone asked: its real reason is lost (as in CAF's BASP).
    send_reason(from, wire::kind::down, aid, caf::exit_reason::unknown);
    return;
  }
  bool first;
  {
    std::lock_guard<std::mutex> guard(exports_mtx_);
    auto& list = watchers_[aid];
    for (auto& w : list)
      if (w.slot == from.slot && w.incarnation == from.incarnation)
        return;
    first = list.empty();
    list.push_back(from);
  }
  if (!first)
    return;
  // Runs in the actor's cleanup, after its mailbox was bounced and after
  // every message it sent: the DOWN comes after them in every inbox.
  std::weak_ptr<bus_core> weak = shared_from_this();
  actor->get()->attach_functor([weak, aid](const caf::error& reason) {
    if (auto core = weak.lock())
      core->local_actor_down(aid, reason);
  });
}

void bus_core::local_actor_down(caf::actor_id aid, const caf::error& reason) {
  std::vector<peer_ref> watchers;
  caf::strong_actor_ptr released; // outside the lock: may run a destructor
  {
    std::lock_guard<std::mutex> guard(exports_mtx_);
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
    if (alive(w))
      send_reason(w, wire::kind::down, aid, reason);
}

void bus_core::handle_link(peer_ref from, caf::actor_id dst_id, caf::actor_id linker,
                           bool link) {
  auto dst = find_local(dst_id);
  if (!dst)
    return; // the linker's proxy of dst gets DOWN(unknown) from its WATCH
  auto nid = node_of(from);
  if (link) {
    if (auto proxy = proxies_.get_or_put(nid, linker))
      static_cast<caf::actor_proxy*>(proxy->get())->add_link(dst->get());
  } else if (auto proxy = proxies_.get(nid, linker)) {
    static_cast<caf::actor_proxy*>(proxy->get())->remove_link(dst->get());
  }
}

void bus_core::handle_exit(const std::byte* data, size_t size) {
  auto receiver = wire::get_u64(data);
  auto source_id = wire::get_u64(data + 8);
  auto source_node = wire::from_bytes(data + 16);
  caf::error reason;
  caf::binary_deserializer source{
    &eu_, reinterpret_cast<const char*>(data + 16 + wire::node_id_bytes),
    size - 16 - wire::node_id_bytes};
  if (source(reason))
    reason = caf::exit_reason::unknown;
  auto dest = find_local(receiver);
  if (!dest)
    return;
  caf::strong_actor_ptr from = source_node == sys_.node()
                                 ? sys_.registry().get(source_id)
                                 : proxies_.get_or_put(source_node, source_id);
  auto addr = from ? from->address() : caf::actor_addr{};
  dest->enqueue(nullptr, caf::make_message_id(),
                caf::make_message(caf::exit_msg{addr, std::move(reason)}), &eu_);
}

void bus_core::on_peer_joined(const transport::peer_info& peer) {
  sender_cache_[peer.slot].clear();
  remember(peer);
}

void bus_core::on_peer_lost(const transport::peer_loss& loss) {
  auto slot = loss.peer.slot;
  auto text = loss.describe();
  if (slot == transport_->slot()) {
    lost_server("this node was declared lost by its peers (" + text + ")");
    return;
  }
  caf::node_id nid;
  {
    std::lock_guard<std::mutex> guard(peers_mtx_);
    losses_[loss.peer.pid] = loss_report{loss.cause, loss.detail, text};
    auto i = nodes_by_ref_.find(key_of({slot, loss.peer.incarnation}));
    if (i != nodes_by_ref_.end()) {
      nid = i->second;
      nodes_by_ref_.erase(i);
      auto j = peers_.find(nid);
      if (j != peers_.end() && j->second.ref.incarnation == loss.peer.incarnation)
        peers_.erase(j);
    }
  }
  auto expected = (uint64_t{loss.peer.incarnation} << 1) | 1;
  slot_alive_[slot].compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
  drop_deferred(slot, caf::sec::request_receiver_down);
  sender_cache_[slot].clear();
  if (nid) {
    // Every proxy dies with remote_link_unreachable (its pending requests
    // fail first, see shm_actor_proxy::kill_proxy); requests to actors we
    // had no proxy for fail too.
    proxies_.erase(nid);
    fail_pending(nid, 0);
  }
  if (loss.peer.role == transport::node_role::server
      && role_of(settings_.role) == transport::node_role::client)
    lost_server(text);
}

void bus_core::on_error(const transport::error& err) {
  log_once("transport/" + std::to_string(static_cast<int>(err.code)), err.message);
}

void bus_core::lost_server(const std::string& why) {
  if (settings_.on_server_lost != "exit") {
    std::lock_guard<std::mutex> guard(stop_mtx_);
    stop_reason_ = {stop_cause::server_lost, "server lost: " + why};
    stop_cv_.notify_all();
    return;
  }
  // await_stop_request() stays blocked: a process that returned from it
  // and ended normally would report success (exit code 0) to its launcher.
  // stderr may be a pipe to a dead parent: a SIGPIPE must not pre-empt 75.
  std::signal(SIGPIPE, SIG_IGN);
  std::fprintf(stderr,
               "shmbus[%s]: the server of bus '%s' is lost (%s); exiting with code %d "
               "(shmbus.on-server-lost=exit) so that a launcher restarts the node\n",
               settings_.node_name.c_str(), settings_.bus.c_str(), why.c_str(),
               settings_.server_lost_exit_code);
  // The down messages are in the mailboxes; give the actors a moment to see
  // them, then go. _Exit: the actor system's threads are still running.
  auto code = settings_.server_lost_exit_code;
  std::thread([code] {
    std::this_thread::sleep_for(100ms);
    std::fflush(nullptr);
    std::_Exit(code);
  }).detach();
}

void bus_core::log_once(const std::string& key, const std::string& text) {
  {
    std::lock_guard<std::mutex> guard(log_mtx_);
    if (!logged_.insert(key).second)
      return;
  }
  std::fprintf(stderr, "shmbus[%s]: %s\n", settings_.node_name.c_str(), text.c_str());
}

// -- names and stop requests --------------------------------------------------

caf::error bus_core::stopped_error() const {
  return make_error(errc::not_attached, "bus node '" + settings_.node_name + "' of bus '"
                                          + settings_.bus
                                          + "' has stopped; start a new node to use the bus");
}

caf::error bus_core::publish(caf::strong_actor_ptr x, const std::string& name,
                             uint64_t interface) {
  if (stopping_)
    return stopped_error();
  if (!x)
    return caf::make_error(caf::sec::invalid_argument, "cannot publish an invalid actor handle");
  if (x->node() != sys_.node())
    return caf::make_error(caf::sec::invalid_argument,
                           "only actors of this process can be published (actor "
                             + std::to_string(x->id()) + " lives on another node)");
  auto aid = x->id();
  sys_.registry().put(aid, x);
  if (auto err = transport_->publish(name, aid, interface))
    return from_transport(err);
  bool watch;
  {
    std::lock_guard<std::mutex> guard(exports_mtx_);
    published_[name] = aid;
    watch = publish_watched_.insert(aid).second;
  }
  if (watch) {
    // Names die with their actor.
    std::weak_ptr<bus_core> weak = shared_from_this();
    x->get()->attach_functor([weak, aid] {
      auto core = weak.lock();
      if (!core)
        return;
      std::vector<std::string> names;
      {
        std::lock_guard<std::mutex> guard(core->exports_mtx_);
        core->publish_watched_.erase(aid);
        for (auto i = core->published_.begin(); i != core->published_.end();) {
          if (i->second == aid) {
            names.push_back(i->first);
            i = core->published_.erase(i);
          } else {
            ++i;
          }
        }
      }
      for (auto& name : names)
        core->transport_->unpublish(name);
    });
  }
  return caf::none;
}

caf::error bus_core::unpublish(const std::string& name) {
  if (stopping_)
    return stopped_error();
  {
    std::lock_guard<std::mutex> guard(exports_mtx_);
    published_.erase(name);
  }
  if (auto err = transport_->unpublish(name))
    return from_transport(err);
  return caf::none;
}

caf::expected<caf::actor> bus_core::lookup(const std::string& name,
                                           caf::timespan timeout, uint64_t interface) {
  if (stopping_)
    return stopped_error();
  auto found = timeout.count() > 0 ? transport_->await_name(name, timeout)
                                   : transport_->lookup(name);
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
  if (found->slot == transport_->slot()) {
    x = sys_.registry().get(found->value);
  } else {
    // By incarnation: the slot may hold a newer process than the I/O
    // thread has seen, or an older one.
    auto nid = node_of(peer_ref{found->slot, found->incarnation});
    if (nid)
      x = proxies_.get_or_put(nid, found->value);
  }
  if (!x)
    return make_error(errc::name_not_found,
                      "the actor published as '" + name + "' is gone");
  return caf::actor_cast<caf::actor>(std::move(x));
}

caf::error bus_core::request_stop(int pid) {
  if (stopping_)
    return stopped_error();
  std::optional<peer_ref> target;
  {
    std::lock_guard<std::mutex> guard(peers_mtx_);
    for (auto& [nid, entry] : peers_)
      if (entry.pid == pid && alive(entry.ref))
        target = entry.ref;
  }
  if (!target)
    for (auto& peer : transport_->peers())
      if (peer.pid == pid && peer.slot != transport_->slot())
        target = peer_ref{peer.slot, peer.incarnation};
  if (!target)
    return make_error(errc::name_not_found,
                      "no process with pid " + std::to_string(pid) + " is on bus '"
                        + settings_.bus + "'");
  std::vector<char> buf;
  wire::start_record(buf, wire::kind::stop);
  return send_record(*target, buf, !on_io_thread());
}

stop_reason bus_core::await_stop_request(caf::timespan timeout) {
  std::unique_lock<std::mutex> guard(stop_mtx_);
  stop_cv_.wait_for(guard, timeout, [this] { return static_cast<bool>(stop_reason_); });
  return stop_reason_;
}

} // namespace shmbus::bus
