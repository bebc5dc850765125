#include "shmbus/transport/node.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include <sched.h>
#include <unistd.h>

#include "liveness_watcher.hpp"
#include "process_info.hpp"

namespace shmbus::transport {

namespace {

using clock = std::chrono::steady_clock;

/// Control records: the first payload byte says what they are.
enum class control_type : uint8_t { leaving = 1 };

std::string ms_text(std::chrono::nanoseconds d) {
  return std::to_string(
           std::chrono::duration_cast<std::chrono::milliseconds>(d).count())
         + " ms";
}

/// Counters only the consumer thread writes: no locked instruction needed.
inline void bump_single_writer(std::atomic<uint64_t>& counter, uint64_t n) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

} // namespace

// -- construction -------------------------------------------------------------

node::node(node_options options) : options_(std::move(options)) {
  // nop
}

result<std::unique_ptr<node>> node::start(node_options options) {
  if (auto err = validate_bus_name(options.bus))
    return *err;
  if (options.name.size() > limits::max_name_length)
    return make_error(errc::invalid_argument,
                      "node name '" + options.name + "' is longer than "
                        + std::to_string(limits::max_name_length) + " bytes");
  if (options.user_data.size() > 64)
    return make_error(errc::invalid_argument,
                      "node user data holds at most 64 bytes");
  if (options.role == node_role::server
      && options.timing.heartbeat_timeout <= 2 * options.timing.heartbeat_interval)
    return make_error(errc::invalid_argument,
                      "heartbeat timeout (" + ms_text(options.timing.heartbeat_timeout)
                        + ") must exceed twice the heartbeat interval ("
                        + ms_text(options.timing.heartbeat_interval) + ")");
  std::unique_ptr<node> self{new node(std::move(options))};
  auto err = self->options_.role == node_role::server ? self->start_server()
                                                      : self->start_client();
  if (err)
    return err;
  return self;
}

error node::start_server() {
  auto& bus = options_.bus;
  if (auto err = segment::validate_limits(options_.limits))
    return *err;
  // Reopen if the lock file is replaced under us (a concurrent clean).
  for (int attempt = 0;; ++attempt) {
    auto lock = bus_lock::open(bus, true, options_.file_mode);
    if (!lock)
      return lock.err();
    lock_ = std::move(*lock);
    if (!lock_.try_lock(bus_lock::server_byte, bus_lock::mode::exclusive)) {
      std::string who;
      if (auto seg = segment::attach(bus)) {
        auto& s = seg->slot(0);
        who = " (node '" + s.name.load() + "', pid "
              + std::to_string(s.pid.load(std::memory_order_relaxed)) + ")";
      }
      return make_error(errc::server_running,
                        "bus '" + bus + "' already has a running server" + who
                          + "; stop it first or use another bus name");
    }
    auto until = clock::now() + options_.wait_for_clients;
    while (!lock_.try_lock(bus_lock::members_byte, bus_lock::mode::exclusive)) {
      if (clock::now() >= until) {
        std::string who;
        if (auto seg = segment::attach(bus)) {
          for (uint32_t i = 1; i < seg->node_slots(); ++i) {
            auto word = seg->slot(i).state.load(std::memory_order_acquire);
            if (lock_.held_by_other(bus_lock::slot_byte(i), bus_lock::mode::shared))
              who += (who.empty() ? ": " : ", ") + std::string("'")
                     + seg->slot(i).name.load() + "' (pid "
                     + std::to_string(seg->slot(i).pid.load()) + ", "
                     + to_string(state_of(word)) + ")";
          }
        }
        return make_error(errc::clients_alive,
                          "bus '" + bus + "' still has live clients" + who
                            + "; a server does not start while clients of the "
                              "previous one live: stop them first");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
    }
    if (lock_.still_linked())
      break;
    if (attempt == 3)
      return make_error(errc::bus_in_use,
                        "the lock file " + lock_.path()
                          + " keeps being replaced; is `shmbusctl clean` running?");
  }
  if (segment::exists(bus)) {
    std::string old;
    if (auto seg = segment::attach(bus))
      old = " (created by pid " + std::to_string(seg->header().creator_pid) + ")";
    start_notes_.push_back("replaced the stale segment of bus '" + bus + "'" + old
                           + ": every process that used it is gone");
  }
  auto seg = segment::create(bus, options_.limits, options_.timing,
                             options_.file_mode);
  if (!seg)
    return seg.err();
  seg_ = std::move(*seg);
  names_ = std::make_unique<name_table>(seg_);
  if (auto err = claim_slot(0))
    return err;
  // Clients may join from now on.
  lock_.unlock(bus_lock::members_byte);
  return {};
}

error node::start_client() {
  auto& bus = options_.bus;
  auto lock = bus_lock::open(bus, false, options_.file_mode);
  if (!lock)
    return lock.err();
  lock_ = std::move(*lock);
  // A starting server holds the members lock exclusively while it sets up.
  auto until = clock::now() + options_.attach_timeout;
  while (!lock_.try_lock(bus_lock::members_byte, bus_lock::mode::shared)) {
    if (clock::now() >= until)
      return make_error(errc::timeout,
                        "the server of bus '" + bus + "' did not finish setting up within "
                          + ms_text(options_.attach_timeout));
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  if (!lock_.held_by_other(bus_lock::server_byte, bus_lock::mode::shared))
    return make_error(errc::bus_not_found,
                      "bus '" + bus + "' has no running server (what is left in "
                        + segment_file_path(bus)
                        + " belongs to a server that died); start the server first");
  auto seg = segment::attach(bus);
  if (!seg)
    return seg.err();
  seg_ = std::move(*seg);
  names_ = std::make_unique<name_table>(seg_);
  for (uint32_t i = 1; i < seg_.node_slots(); ++i) {
    if (lock_.try_lock(bus_lock::slot_byte(i), bus_lock::mode::exclusive))
      return claim_slot(i);
  }
  return make_error(errc::bus_full,
                    "bus '" + bus + "' has no free node slot (all "
                      + std::to_string(seg_.node_slots())
                      + " are in use); start its server with more node slots");
}

error node::claim_slot(uint32_t slot) {
  if (slot == 0 && !lock_.try_lock(bus_lock::slot_byte(0), bus_lock::mode::exclusive))
    return make_error(errc::server_running, "slot 0 of bus '" + options_.bus
                                              + "' is held by another process");
  auto& s = seg_.slot(slot);
  // We hold the slot's lock, so its previous owner is dead; watchers of
  // other processes may still CAS its old state word to `dead`.
  auto word = s.state.load(std::memory_order_acquire);
  uint32_t incarnation;
  do {
    incarnation = incarnation_of(word) + 1;
    if (incarnation == 0)
      incarnation = 1;
  } while (!s.state.compare_exchange_weak(
    word, make_state_word(node_state::joining, incarnation),
    std::memory_order_acq_rel));
  slot_ = slot;
  incarnation_ = incarnation;
  auto ring = seg_.ring(slot);
  if (!ring.initialized())
    ring.initialize();
  ring.control()->consumer_parked.store(0, std::memory_order_relaxed);
  s.pid.store(static_cast<int32_t>(::getpid()), std::memory_order_relaxed);
  s.role.store(static_cast<uint32_t>(options_.role), std::memory_order_relaxed);
  s.process_start.store(detail::own_start_time(), std::memory_order_relaxed);
  s.joined_unix_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count(),
                         std::memory_order_relaxed);
  s.name.store(options_.name);
  s.user_data.store(options_.user_data.data(), options_.user_data.size());
  s.heartbeat_ns.store(detail::monotonic_ns(), std::memory_order_relaxed);
  s.loss_cause.store(0, std::memory_order_relaxed);
  s.loss_detail.store(0, std::memory_order_relaxed);
  for (auto* c : {&s.msgs_out, &s.bytes_out, &s.send_errors, &s.full_inbox_waits,
                  &s.msgs_in, &s.bytes_in, &s.corrupt_records, &s.stale_dropped,
                  &s.skipped_claims})
    c->store(0, std::memory_order_relaxed);
  reader_ = inbox_reader(ring, seg_.limits().max_message_bytes, seg_.node_slots());
  known_.assign(seg_.node_slots(), known_peer{});
  // Pairs with readers' acquire loads: the identity above is visible first.
  s.state.store(make_state_word(node_state::alive, incarnation),
                std::memory_order_release);
  seg_.header().membership_epoch.fetch_add(1, std::memory_order_release);
  try {
    watcher_ = std::make_unique<liveness_watcher>(*this, seg_, slot_, incarnation_,
                                                  options_.kill_hung_peers);
    watcher_->start();
  } catch (const std::exception& ex) {
    s.state.store(make_state_word(node_state::dead, incarnation),
                  std::memory_order_release);
    return make_error(errc::system_error, ex.what());
  }
  return {};
}

node::~node() {
  leave();
}

void node::leave() noexcept {
  if (left_.exchange(true) || !watcher_)
    return;
  auto& s = seg_.slot(slot_);
  auto alive = make_state_word(node_state::alive, incarnation_);
  if (s.state.compare_exchange_strong(alive,
                                      make_state_word(node_state::leaving, incarnation_),
                                      std::memory_order_acq_rel))
    send_goodbyes();
  names_->unpublish_all(slot_, incarnation_);
  watcher_->stop();
  s.loss_cause.store(static_cast<uint32_t>(loss_cause::left), std::memory_order_relaxed);
  s.loss_detail.store(0, std::memory_order_release);
  auto leaving = make_state_word(node_state::leaving, incarnation_);
  s.state.compare_exchange_strong(leaving, make_state_word(node_state::dead, incarnation_),
                                  std::memory_order_acq_rel);
  seg_.header().membership_epoch.fetch_add(1, std::memory_order_release);
  if (options_.role == node_role::server
      && lock_.try_lock(bus_lock::members_byte, bus_lock::mode::exclusive)
      && lock_.still_linked()) {
    // No client left: the server removes what it created. The lock file
    // stays while a launcher holds its lock in it: removing it would let a
    // second launcher start on a new file.
    segment::unlink(options_.bus);
    if (lock_.try_lock(bus_lock::launcher_byte, bus_lock::mode::exclusive))
      ::unlink(lock_.path().c_str());
  }
  lock_ = bus_lock{}; // releases every lock
}

void node::send_goodbyes() noexcept {
  // Each peer reports us lost right after our last message to it.
  auto until = clock::now() + defaults::leave_timeout;
  uint8_t goodbye = static_cast<uint8_t>(control_type::leaving);
  for (uint32_t i = 0; i < seg_.node_slots(); ++i) {
    if (i == slot_)
      continue;
    auto word = seg_.slot(i).state.load(std::memory_order_acquire);
    if (state_of(word) != node_state::alive)
      continue;
    inbox_ring::claim c;
    auto ring = seg_.ring(i);
    for (;;) {
      auto status = ring.try_claim(record_kind::control, 1, slot_, incarnation_,
                                   incarnation_of(word), c);
      if (status == inbox_ring::claim_status::claimed) {
        std::memcpy(c.payload, &goodbye, 1);
        ring.commit(c);
        ring.wake_consumer();
        break;
      }
      auto now = clock::now();
      if (status == inbox_ring::claim_status::corrupt || now >= until)
        break; // best effort: the peer's watcher still sees us go
      ring.wait_for_space(record::record_bytes(1), until - now);
    }
  }
}

// -- sending --------------------------------------------------------------

error node::send(uint32_t to_slot, uint32_t to_incarnation, const void* data,
                 size_t size, std::chrono::nanoseconds max_wait) noexcept {
  return send_with(
    to_slot, to_incarnation, size,
    [&](std::byte* dst) { std::memcpy(dst, data, size); }, max_wait);
}

error node::claim_for_send(uint32_t to_slot, uint32_t to_incarnation, size_t size,
                           record_kind kind, std::chrono::nanoseconds max_wait,
                           inbox_ring::claim& out) noexcept {
  if (max_wait < std::chrono::nanoseconds::zero())
    max_wait = options_.full_inbox_timeout;
  auto& self = seg_.slot(slot_);
  auto fail = [&](errc code, std::string what) {
    self.send_errors.fetch_add(1, std::memory_order_relaxed);
    return make_error(code, std::move(what));
  };
  if (left_.load(std::memory_order_relaxed))
    return fail(errc::not_attached, "this node has left bus '" + options_.bus + "'");
  if (size > seg_.limits().max_message_bytes)
    return fail(errc::message_too_large,
                "message of " + std::to_string(size) + " bytes exceeds the maximum of "
                  + std::to_string(seg_.limits().max_message_bytes)
                  + " bytes of bus '" + options_.bus
                  + "'; send less, or start the server with a larger max message size");
  if (to_slot >= seg_.node_slots())
    return fail(errc::peer_lost, "no node slot " + std::to_string(to_slot)
                                   + " on bus '" + options_.bus + "'");
  auto& dest = seg_.slot(to_slot);
  auto expected_word = make_state_word(node_state::alive, to_incarnation);
  auto ring = seg_.ring(to_slot);
  auto until = clock::time_point::max();
  bool counted_wait = false;
  for (int round = 0;; ++round) {
    if (dest.state.load(std::memory_order_acquire) != expected_word)
      return fail(errc::peer_lost,
                  "node '" + dest.name.load() + "' (slot " + std::to_string(to_slot)
                    + ", incarnation " + std::to_string(to_incarnation)
                    + ") of bus '" + options_.bus + "' is gone");
    auto status = ring.try_claim(kind, static_cast<uint32_t>(size), slot_,
                                 incarnation_, to_incarnation, out);
    if (status == inbox_ring::claim_status::claimed)
      return {};
    if (status == inbox_ring::claim_status::corrupt)
      return fail(errc::corrupt_record,
                  "the inbox of node '" + dest.name.load() + "' (slot "
                    + std::to_string(to_slot) + ") holds garbage at its tail; "
                    "its consumer recovers it, retry later");
    // Full: wait for the consumer, never past the deadline.
    auto now = clock::now();
    if (!counted_wait) {
      counted_wait = true;
      self.full_inbox_waits.fetch_add(1, std::memory_order_relaxed);
      until = now + max_wait;
    }
    if (now >= until)
      return fail(errc::inbox_full,
                  "the inbox of node '" + dest.name.load() + "' (slot "
                    + std::to_string(to_slot) + ") on bus '" + options_.bus
                    + "' stayed full for " + ms_text(max_wait)
                    + " (" + std::to_string(ring.used_bytes())
                    + " bytes queued): its consumer is not keeping up; "
                      "the message was not sent");
    if (round < 16) {
      std::this_thread::yield();
      continue;
    }
    // Short naps so a destination that dies meanwhile is noticed promptly.
    ring.wait_for_space(record::record_bytes(size),
                        std::min<clock::duration>(until - now, std::chrono::milliseconds{10}));
  }
}

error node::finish_send(uint32_t to_slot, const inbox_ring::claim& c) noexcept {
  auto ring = seg_.ring(to_slot);
  auto& self = seg_.slot(slot_);
  if (!ring.commit(c)) {
    self.send_errors.fetch_add(1, std::memory_order_relaxed);
    return make_error(errc::peer_lost,
                      "the receiver (slot " + std::to_string(to_slot)
                        + ") discarded the message before it was complete: it "
                          "declared this node lost or recovered a corrupt inbox");
  }
  ring.wake_consumer();
  self.msgs_out.fetch_add(1, std::memory_order_relaxed);
  self.bytes_out.fetch_add(c.payload_bytes, std::memory_order_relaxed);
  return {};
}

// -- receiving ------------------------------------------------------------

void node::post_event(event e) {
  if (e.type == event::kind::lost)
    e.drain_to = seg_.ring(slot_).control()->tail.load(std::memory_order_acquire);
  {
    std::lock_guard<std::mutex> guard(events_mutex_);
    events_.push_back(e);
  }
  events_pending_.store(true, std::memory_order_release);
  wake();
}

void node::wake() noexcept {
  seg_.ring(slot_).wake_consumer();
}

peer_info node::read_peer(uint32_t slot, uint64_t state_word) const {
  auto& s = seg_.slot(slot);
  peer_info info;
  info.slot = slot;
  info.incarnation = incarnation_of(state_word);
  info.pid = s.pid.load(std::memory_order_relaxed);
  info.role = static_cast<node_role>(s.role.load(std::memory_order_relaxed));
  info.name = s.name.load();
  s.user_data.load(info.user_data.data());
  return info;
}

std::optional<peer_info> node::peer(uint32_t slot) const {
  if (slot >= seg_.node_slots())
    return std::nullopt;
  auto& s = seg_.slot(slot);
  auto word = s.state.load(std::memory_order_acquire);
  if (state_of(word) != node_state::alive)
    return std::nullopt;
  auto info = read_peer(slot, word);
  // Re-check: the slot may have been reused while we copied.
  if (s.state.load(std::memory_order_acquire) != word)
    return std::nullopt;
  return info;
}

std::vector<peer_info> node::peers() const {
  std::vector<peer_info> result;
  for (uint32_t i = 0; i < seg_.node_slots(); ++i)
    if (auto p = peer(i))
      result.push_back(std::move(*p));
  return result;
}

void node::watch(uint32_t slot, uint32_t incarnation) {
  if (watcher_)
    watcher_->watch(slot, incarnation);
}

node_counters node::counters(uint32_t slot) const noexcept {
  auto& s = seg_.slot(slot < seg_.node_slots() ? slot : slot_);
  auto get = [](const std::atomic<uint64_t>& c) {
    return c.load(std::memory_order_relaxed);
  };
  return {get(s.msgs_out),  get(s.bytes_out),       get(s.send_errors),
          get(s.full_inbox_waits), get(s.msgs_in),  get(s.bytes_in),
          get(s.corrupt_records),  get(s.stale_dropped), get(s.skipped_claims)};
}

bool node::producer_gone(uint32_t slot, uint32_t incarnation_bits) const noexcept {
  auto word = seg_.slot(slot).state.load(std::memory_order_acquire);
  if ((incarnation_of(word) & record::incarnation_mask) != incarnation_bits)
    return true; // the slot passed to a new process: the claimant is dead
  return state_of(word) == node_state::dead;
}

void node::announce(uint32_t slot, uint32_t incarnation, inbox_handler& handler) {
  auto& k = known_[slot];
  if (k.incarnation == incarnation)
    return; // announced already (and maybe lost since)
  if (k.alive) // an older incarnation we never saw go
    report_loss(slot, k.incarnation, loss_cause::vanished, 0, handler);
  auto word = seg_.slot(slot).state.load(std::memory_order_acquire);
  k.incarnation = incarnation;
  k.alive = true;
  k.info = read_peer(slot, word);
  k.info.incarnation = incarnation;
  if (slot != slot_)
    watch(slot, incarnation);
  handler.on_peer_joined(k.info);
}

void node::report_loss(uint32_t slot, uint32_t incarnation, loss_cause cause,
                       int32_t detail, inbox_handler& handler) {
  auto& k = known_[slot];
  if (slot == slot_ && cause == loss_cause::evicted) {
    peer_loss loss{read_peer(slot, make_state_word(node_state::alive, incarnation)),
                   cause, detail};
    handler.on_peer_lost(loss);
    return;
  }
  if (!k.alive || k.incarnation != incarnation)
    return; // never announced, or reported already
  k.alive = false;
  handler.on_peer_lost(peer_loss{k.info, cause, detail});
}

size_t node::deliver_events(inbox_handler& handler) {
  if (!events_pending_.load(std::memory_order_acquire))
    return 0;
  std::vector<event> ready;
  {
    std::lock_guard<std::mutex> guard(events_mutex_);
    size_t n = 0;
    // In order; a loss waits until our head passed its drain position.
    while (n < events_.size()
           && !(events_[n].type == event::kind::lost
                && reader_.head() < events_[n].drain_to))
      ++n;
    ready.assign(events_.begin(), events_.begin() + static_cast<ptrdiff_t>(n));
    events_.erase(events_.begin(), events_.begin() + static_cast<ptrdiff_t>(n));
    events_pending_.store(!events_.empty(), std::memory_order_release);
  }
  for (auto& e : ready) {
    if (e.type == event::kind::joined) {
      // Announced even if it died since: its loss follows.
      auto word = seg_.slot(e.slot).state.load(std::memory_order_acquire);
      if (incarnation_of(word) == e.incarnation)
        announce(e.slot, e.incarnation, handler);
    } else {
      report_loss(e.slot, e.incarnation, e.cause, e.detail, handler);
    }
  }
  return ready.size();
}

bool node::handle_record(const inbox_reader::entry& e, inbox_handler& handler) {
  auto& self = seg_.slot(slot_);
  auto& k = known_[e.sender_slot];
  bool known = k.alive
               && (k.incarnation & record::incarnation_mask) == e.sender_incarnation_bits;
  if (!known) {
    // First record of this incarnation: announce it if it is the one the
    // table holds now; a record of an incarnation we never knew and that is
    // gone already cannot be attributed.
    auto word = seg_.slot(e.sender_slot).state.load(std::memory_order_acquire);
    auto incarnation = incarnation_of(word);
    bool current = (incarnation & record::incarnation_mask) == e.sender_incarnation_bits;
    bool fresh = !(k.incarnation == incarnation && !k.alive);
    if (current && fresh && state_of(word) != node_state::free
        && state_of(word) != node_state::joining) {
      announce(e.sender_slot, incarnation, handler);
      known = true;
    }
  }
  if (!known || (e.kind == record_kind::data && e.destination_incarnation != incarnation_)) {
    bump_single_writer(self.stale_dropped, 1);
    return false;
  }
  if (e.kind == record_kind::control) {
    if (e.payload_bytes >= 1
        && static_cast<uint8_t>(e.payload[0]) == static_cast<uint8_t>(control_type::leaving))
      report_loss(e.sender_slot, k.incarnation, loss_cause::left, 0, handler);
    return true;
  }
  bump_single_writer(self.msgs_in, 1);
  bump_single_writer(self.bytes_in, e.payload_bytes);
  handler.on_message(message_view{e.sender_slot, k.incarnation, e.payload, e.payload_bytes});
  return true;
}

size_t node::poll(inbox_handler& handler, size_t max_records) noexcept {
  size_t handed = deliver_events(handler);
  size_t records = 0;
  auto& self = seg_.slot(slot_);
  bool drained = false;
  while (records < max_records) {
    auto e = reader_.peek();
    if (e.state == inbox_reader::status::empty) {
      drained = true;
      break;
    }
    if (e.state == inbox_reader::status::pending) {
      if (!producer_gone(e.sender_slot, e.sender_incarnation_bits)
          || !reader_.skip_pending()) {
        drained = true;
        break;
      }
      bump_single_writer(self.skipped_claims, 1);
      continue;
    }
    if (e.state == inbox_reader::status::corrupt) {
      bump_single_writer(self.corrupt_records, 1);
      auto skipped = reader_.recover();
      handler.on_error(make_error(
        errc::corrupt_record,
        "corrupt record in the inbox of node '" + options_.name + "' (slot "
          + std::to_string(slot_) + ") on bus '" + options_.bus + "' at position "
          + std::to_string(e.position) + ": " + e.problem + "; skipped "
          + std::to_string(skipped) + " bytes to the next valid record"));
      ++handed;
      if (skipped == 0) {
        drained = true;
        break;
      }
      continue;
    }
    handle_record(e, handler);
    reader_.consume();
    ++records;
  }
  // Space goes back to producers when we run dry or every eighth of the
  // ring, not per record.
  reader_.publish(drained);
  return handed + records + deliver_events(handler);
}

bool node::has_work() const noexcept {
  return reader_.readable() || events_pending_.load(std::memory_order_acquire);
}

void node::idle(std::chrono::nanoseconds max_wait) noexcept {
  auto start = clock::now();
  auto until = start + max_wait;
  auto& idle = options_.idle;
  auto poll_until = [&](clock::time_point limit, bool yield) {
    for (;;) {
      for (int i = 0; i < 64; ++i) {
        if (has_work())
          return true;
        if (yield)
          ::sched_yield();
        else
          cpu_relax();
      }
      if (clock::now() >= limit)
        return false;
    }
  };
  if (idle.kind == idle_kind::busy_spin) {
    poll_until(until, false);
    return;
  }
  if (idle.kind == idle_kind::adaptive) {
    if (poll_until(std::min(until, start + idle.spin), false))
      return;
    if (poll_until(std::min(until, start + idle.spin + idle.yield), true))
      return;
  }
  auto now = clock::now();
  if (now < until)
    reader_.park(std::min<std::chrono::nanoseconds>(until - now, defaults::max_park),
                 [this] { return has_work(); });
}

size_t node::run_once(inbox_handler& handler, std::chrono::nanoseconds max_wait,
                      size_t max_records) noexcept {
  if (auto n = poll(handler, max_records))
    return n;
  idle(max_wait);
  return poll(handler, max_records);
}

// -- names ------------------------------------------------------------------

error node::publish(std::string_view name, uint64_t value, uint64_t aux) {
  return names_->publish(name, slot_, incarnation_, value, aux);
}

error node::unpublish(std::string_view name) {
  return names_->unpublish(name, slot_, incarnation_);
}

result<published_name> node::lookup(std::string_view name) const {
  return names_->lookup(name);
}

result<published_name> node::await_name(std::string_view name,
                                        std::chrono::nanoseconds timeout) const {
  return names_->await(name, timeout);
}

std::vector<published_name> node::published() const {
  return names_->list();
}

} // namespace shmbus::transport
