// The machinery behind shmbus::bus::node: the proxy registry backend, the
// send path of proxies, the I/O thread that turns inbox records into
// mailbox elements, remote monitor/link bookkeeping, pending requests, and
// what happens when a peer process is lost.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/fwd.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/proxy_registry.hpp>

#include "shmbus/bus/bus_settings.hpp"
#include "shmbus/bus/node.hpp"
#include "shmbus/transport/node.hpp"

#include "io_execution_unit.hpp"
#include "wire.hpp"

namespace shmbus::bus {

class shm_actor_proxy;

class bus_core final : public caf::proxy_registry::backend,
                       public transport::inbox_handler,
                       public std::enable_shared_from_this<bus_core> {
public:
  bus_core(caf::actor_system& sys, bus_settings settings);
  ~bus_core() override;

  /// Joins or creates the bus and starts the I/O thread.
  caf::error start();

  /// See node::stop().
  void stop();

  // -- proxy_registry::backend (runs under the registry's lock) -------------

  caf::strong_actor_ptr make_proxy(caf::node_id nid, caf::actor_id aid) override;
  void set_last_hop(caf::node_id*) override {
    // nop: every node of a bus reaches every other directly
  }

  // -- used by proxies (any thread) -------------------------------------------

  void forward(shm_actor_proxy& proxy, caf::mailbox_element_ptr what,
               caf::execution_unit* ctx);
  void send_link(shm_actor_proxy& proxy, caf::abstract_actor* linker, bool link);
  void fail_pending(const caf::node_id& nid, caf::actor_id aid);

  /// Answers `what` with `err` if it is a request (CAF's bouncer).
  static void bounce(const caf::mailbox_element& what, caf::error err);

  // -- transport::inbox_handler (I/O thread) ------------------------------------

  void on_message(const transport::message_view& msg) override;
  void on_peer_joined(const transport::peer_info& peer) override;
  void on_peer_lost(const transport::peer_loss& loss) override;
  void on_error(const transport::error& err) override;

  // -- names and stop requests (any thread) ---------------------------------

  caf::error publish(caf::strong_actor_ptr x, const std::string& name,
                     uint64_t interface);
  caf::error unpublish(const std::string& name);
  caf::expected<caf::actor> lookup(const std::string& name,
                                   caf::timespan timeout, uint64_t interface);
  caf::error request_stop(int pid);
  stop_reason await_stop_request(caf::timespan timeout);

  std::vector<peer_view> peers() const;
  std::optional<loss_report> loss_of(int pid) const;
  uint64_t undelivered() const noexcept {
    return undelivered_.load(std::memory_order_relaxed);
  }

  caf::actor_system& system() noexcept { return sys_; }
  const bus_settings& settings() const noexcept { return settings_; }
  transport::node& transport_node() noexcept { return *transport_; }

private:
  struct peer_ref {
    uint32_t slot = 0;
    uint32_t incarnation = 0;
  };

  struct peer_entry {
    peer_ref ref;
    caf::node_id node;
    std::string name;
    int pid = 0;
    bool server = false;
  };

  struct pending_request {
    caf::weak_actor_ptr requester; // weak: must not keep the requester alive
    caf::message_id mid;
    caf::node_id node;
    caf::actor_id target;
  };

  /// A record the I/O thread could not write at once (inbox full): it never
  /// blocks, so it keeps the record and retries.
  struct deferred_record {
    peer_ref to;
    std::vector<char> bytes;
    caf::strong_actor_ptr requester; // answered with an error if dropped
    caf::message_id mid;
    std::chrono::steady_clock::time_point since;
  };

  // -- peers --
  std::optional<peer_ref> route(const caf::node_id& nid);
  /// The CAF node of an incarnation, also one the I/O thread has not
  /// announced yet; invalid once it is lost.
  caf::node_id node_of(peer_ref ref);
  static uint64_t key_of(peer_ref ref) noexcept {
    return (uint64_t{ref.slot} << 32) | ref.incarnation;
  }
  std::string name_of(uint32_t slot) const;
  bool alive(peer_ref ref) const noexcept;
  void remember(const transport::peer_info& peer);

  // -- sending --
  bool on_io_thread() const noexcept;
  caf::error send_record(peer_ref to, const std::vector<char>& bytes,
                         bool may_block, const caf::strong_actor_ptr& requester = nullptr,
                         caf::message_id mid = caf::make_message_id());
  void send_control(peer_ref to, wire::kind k, uint64_t a, uint64_t b, bool with_b);
  void send_reason(peer_ref to, wire::kind k, uint64_t aid, const caf::error& reason);
  void flush_deferred();
  void drain_own_inbox();
  void drop_deferred(uint32_t slot, const caf::error& why);
  void add_pending(const caf::strong_actor_ptr& requester, caf::message_id mid,
                   const caf::node_id& nid, caf::actor_id aid);
  bool take_pending(caf::actor_id requester, caf::message_id mid);
  caf::error to_bus_error(const caf::error& err, const caf::message& msg) const;
  void report_send_failure(const caf::mailbox_element& what, const caf::error& err,
                           const std::string& receiver);

  // -- actor handles of senders --
  void encode_sender(std::vector<char>& buf, const caf::strong_actor_ptr& sender);
  bool decode_sender(peer_ref from, const std::byte* data, size_t size, size_t& offset,
                     caf::strong_actor_ptr& sender);

  // -- receiving --
  void io_loop();
  void handle_message(peer_ref from, const std::byte* data, size_t size);
  void handle_watch(peer_ref from, caf::actor_id aid);
  void handle_link(peer_ref from, caf::actor_id dst, caf::actor_id linker, bool link);
  void handle_exit(const std::byte* data, size_t size);
  void local_actor_down(caf::actor_id aid, const caf::error& reason);
  caf::strong_actor_ptr find_local(caf::actor_id aid);
  void lost_server(const std::string& why);
  /// The error of every name or stop call after stop().
  caf::error stopped_error() const;
  void log_once(const std::string& key, const std::string& text);

  caf::actor_system& sys_;
  bus_settings settings_;
  std::unique_ptr<transport::node> transport_;
  caf::proxy_registry proxies_;
  io_execution_unit eu_;
  std::thread io_thread_;
  std::thread::id io_thread_id_;
  /// I/O thread only: true while record handlers run (no nested poll).
  bool in_poll_ = false;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;

  mutable std::mutex peers_mtx_;
  std::unordered_map<caf::node_id, peer_entry> peers_;
  std::vector<peer_entry> by_slot_;
  std::unordered_map<uint64_t, caf::node_id> nodes_by_ref_;
  /// Per slot: (incarnation << 1) | 1 while alive; read lock-free on the
  /// send path.
  std::unique_ptr<std::atomic<uint64_t>[]> slot_alive_;
  std::map<int, loss_report> losses_;

  std::mutex pending_mtx_;
  std::map<std::pair<caf::actor_id, uint64_t>, pending_request> pending_;
  size_t pending_since_sweep_ = 0;

  std::mutex exports_mtx_;
  std::unordered_map<caf::actor_id, caf::strong_actor_ptr> exports_;
  std::unordered_map<caf::actor_id, std::vector<peer_ref>> watchers_;
  std::unordered_map<std::string, caf::actor_id> published_;
  std::set<caf::actor_id> publish_watched_;

  std::mutex deferred_mtx_;
  std::vector<std::deque<deferred_record>> deferred_;
  std::unique_ptr<std::atomic<bool>[]> has_deferred_;
  std::atomic<size_t> deferred_count_{0};

  mutable std::mutex stop_mtx_;
  std::condition_variable stop_cv_;
  stop_reason stop_reason_;

  std::mutex log_mtx_;
  std::set<std::string> logged_;
  std::atomic<uint64_t> undelivered_{0};

  /// Bumped when stop() empties CAF's registry: senders then register
  /// their actors again.
  static inline std::atomic<uint64_t> registry_epoch_{0};

  /// I/O thread only: proxies of recent senders per slot (looking them up
  /// in CAF's proxy registry costs a lock and a node-id hash per message).
  std::vector<std::unordered_map<caf::actor_id, caf::strong_actor_ptr>> sender_cache_;
};

} // namespace shmbus::bus
